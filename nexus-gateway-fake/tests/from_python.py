"""The fake Gateway program driven from Python's standard library, as a
Python, TypeScript or Go test would drive it: started on a chosen port, the
connection flow, the provider API with the credential, the control API, the
Gateway's rate limiter, a seed with a typo, and hostile input.

    python3 tests/from_python.py target/debug/nexus-gateway-fake
"""

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Loopback only: no environment proxy in the way.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method, url, body=None, headers=None, answer_headers=None):
    """(status, parsed JSON or text) of one request; errors are answers too.
    The answer's headers go into `answer_headers` when it is a dict."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(request, timeout=30) as answer:
            status, text, head = answer.status, answer.read().decode(), answer.headers
    except urllib.error.HTTPError as error:
        status, text, head = error.code, error.read().decode(), error.headers
    if answer_headers is not None:
        answer_headers.update(head.items())
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class Fake:
    def __init__(self, program):
        self.program = program
        self.port = free_port()
        self.process = subprocess.Popen(
            [program, "--port", str(self.port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        urls = dict(self.process.stdout.readline().strip().split("=", 1) for _ in range(2))
        self.gateway, self.upstream = urls["NEXUS_GATEWAY_URL"], urls["UPSTREAM_URL"]

    def control(self, what, body=None, method="POST"):
        status, answer = call(method, f"{self.gateway}/_fake/{what}", {} if body is None else body)
        assert status == 200, (what, status, answer)

    def stop(self):
        self.process.kill()
        self.process.wait()


def test_it_listens_on_the_chosen_port(fake):
    assert fake.gateway == f"http://127.0.0.1:{fake.port}", fake.gateway
    assert call("GET", f"{fake.gateway}/health") == (200, {"status": "healthy"})


def test_the_connection_flow_then_the_provider_api_with_the_credential(fake):
    status, started = call("POST", f"{fake.gateway}/v1/request-connection",
                           {"user_id": "ws-demo", "provider_name": "github", "scopes": ["repo"],
                            "return_url": "https://app.example/done"})
    assert status == 200, started
    connection = started["connection_id"]
    assert call("GET", f"{fake.gateway}/v1/check-connection/{connection}")[1] == {"status": "failed"}
    assert call("GET", started["authUrl"])[0] == 200  # the user's consent
    assert call("GET", f"{fake.gateway}/v1/check-connection/{connection}")[1] == {"status": "active"}
    status, token = call("GET", f"{fake.gateway}/v1/token/{connection}")
    assert status == 200 and token["access_token"], token
    # Resolve answers the workspace's latest consented connection, as the Broker does.
    status, resolved = call("GET", f"{fake.gateway}/v1/resolve?workspace_id=ws-demo&provider_name=github")
    assert status == 200 and resolved["credentials"]["access_token"] == token["access_token"], resolved
    status, listing = call("GET", f"{fake.gateway}/v1/providers/metadata")
    assert listing["oauth2"]["github"]["api_base_url"] == fake.upstream, listing
    auth = {"Authorization": "Bearer " + resolved["credentials"]["access_token"]}
    status, answer = call("GET", f"{fake.upstream}/user", headers=auth)
    assert status == 200 and answer["path"] == "/user", answer


def test_the_control_api_adds_a_provider_and_a_connection(fake):
    fake.control("providers", {"workspace": "ws-py", "name": "stripe", "strategy": "header",
                               "header_name": "Authorization", "value_prefix": "Bearer ", "api_key": "sk_py"})
    status, resolved = call("GET", f"{fake.gateway}/v1/resolve?workspace_id=ws-py&provider_name=stripe")
    assert status == 200 and resolved["strategy"]["type"] == "header", resolved
    connection = "6a1f3c2e-9b8d-4e7f-a012-3b4c5d6e7f80"
    fake.control("connections", {"id": connection, "provider": "github", "token": "gho_py", "status": "pending"})
    assert call("GET", f"{fake.gateway}/v1/token/{connection}")[0] == 400  # not active yet
    fake.control(f"connections/{connection}/status", {"status": "active"})
    assert call("GET", f"{fake.gateway}/v1/token/{connection}")[1]["access_token"] == "gho_py"
    log = call("GET", f"{fake.gateway}/_fake/requests")[1]
    assert any(r["path"] == "/v1/resolve" and "ws-py" in r["query"] for r in log), log


def test_a_staged_broker_failure_is_seen_through_the_gateways_routes(fake):
    resolve = f"{fake.gateway}/v1/resolve?workspace_id=ws-demo&provider_name=github"
    fake.control("broker", {"state": "failing"})
    assert call("GET", resolve)[0] == 500  # the Broker's 500 passes through
    fake.control("broker", {"state": "healthy"})
    fake.control("broker", {"route": "resolve", "status": 204})
    status, answer = call("GET", resolve)
    assert (status, answer["error"], answer["message"]) == (502, "broker_unexpected_status", "unexpected status 204")
    fake.control("broker", {"clear": True})
    fake.control("faults", {"route": "resolve", "status": 503, "count": 1})
    assert call("GET", resolve)[0] == 503
    assert call("GET", resolve)[0] == 200


def test_the_gateways_rate_limiter_set_at_run_time(fake):
    resolve = f"{fake.gateway}/v1/resolve?workspace_id=ws-demo&provider_name=github"
    fake.control("rate-limits", {"enabled": True, "resolve_rpm": 2})
    assert [call("GET", resolve)[0] for _ in range(2)] == [200, 200]
    head = {}
    status, text = call("GET", resolve, answer_headers=head)
    assert (status, text) == (429, "Too Many Requests\n"), (status, text)
    assert head["Content-Type"] == "text/plain; charset=utf-8", head
    assert head["X-Content-Type-Options"] == "nosniff", head
    assert head["Retry-After"] in ("29", "30"), head  # one every 30 s, rounded down
    other = f"{fake.gateway}/v1/resolve?workspace_id=ws-other&provider_name=github"
    assert call("GET", other)[0] == 404  # its own bucket; failures count too
    status, answer = call("POST", f"{fake.gateway}/_fake/rate-limits", {"enabled": True, "resolve_rmp": 2})
    assert status == 400 and "resolve_rmp" in answer["message"], answer
    fake.control("reset")  # back to the start: the limiter off
    assert [call("GET", resolve)[0] for _ in range(5)] == [200] * 5


def test_a_seed_with_a_typo_is_refused_naming_it(fake):
    status, answer = call("POST", f"{fake.gateway}/_fake/seed",
                          {"providers": [{"workspace": "ws-py", "name": "gh", "tokn": "t"}]})
    assert status == 400 and answer["message"].startswith('providers[0]: unknown key "tokn"'), answer
    status, answer = call("POST", f"{fake.gateway}/_fake/seed", b"providers=[]")
    assert status == 400 and "not JSON" in answer["message"], answer


def test_a_hostile_chunk_size_is_refused_and_the_fake_keeps_serving(fake):
    with socket.create_connection(("127.0.0.1", fake.port), timeout=30) as raw:
        raw.sendall(b"POST /v1/request-connection HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                    b"Connection: close\r\n\r\n1\r\na\r\nFFFFFFFFFFFFFFFF\r\n")
        status_line = raw.makefile("rb").readline().decode()
    assert status_line.startswith("HTTP/1.1 4"), status_line
    assert call("GET", f"{fake.gateway}/health")[0] == 200
    status, answer = call("POST", f"{fake.gateway}/_fake/connections/status", {"status": "active"})
    assert status == 400 and "which connection" in answer["message"], answer
    fake.control("faults", {"route": "resolve", "status": 503, "count": 10**19})
    assert call("GET", f"{fake.gateway}/health")[0] == 200
    fake.control("reset")


def test_a_login_client_is_added_to_the_entra_shaped_issuer(fake):
    """Entra lets no client register: a test in any language adds the
    login client `serve` signs people in with at POST /_fake/clients, and
    signs a person in with it (PKCE, its secret at the token endpoint)."""
    import base64
    import hashlib
    import urllib.parse

    port = free_port()
    process = subprocess.Popen(
        [fake.program, "--port", str(port), "--issuer", "--issuer-tenant", "t-1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        urls = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
        issuer = urls["ISSUER_URL"]
        assert issuer.endswith("/t-1/v2.0"), issuer
        callback = "http://127.0.0.1:9/connect/callback"
        status, _ = call("POST", f"{issuer}/register", {"redirect_uris": [callback]})
        assert status != 201, "Entra registers no client"
        client = {"client_id": "nexus-login", "redirect_uri": callback, "client_secret": "s3cret"}
        status, added = call("POST", f"{issuer}/_fake/clients", client)
        assert status == 201 and added["client_id"] == "nexus-login", (status, added)
        verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        asked = urllib.parse.urlencode({
            "response_type": "code", "client_id": "nexus-login", "redirect_uri": callback,
            "scope": "openid profile", "state": "s", "code_challenge": challenge,
            "code_challenge_method": "S256",
        })

        class Stay(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), Stay)
        try:
            opener.open(f"{issuer}/authorize?{asked}", timeout=30)
            raise AssertionError("no redirect back")
        except urllib.error.HTTPError as sent_back:
            location = sent_back.headers["Location"]
        code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]
        form = urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": code, "redirect_uri": callback,
            "client_id": "nexus-login", "client_secret": "s3cret", "code_verifier": verifier,
        }).encode()
        request = urllib.request.Request(f"{issuer}/token", data=form, method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        with OPENER.open(request, timeout=30) as answer:
            tokens = json.loads(answer.read())
        assert "id_token" in tokens, tokens
    finally:
        process.terminate()
        process.wait()


def main():
    fake = Fake(sys.argv[1])
    tests = [test for name, test in sorted(globals().items()) if name.startswith("test_")]
    passed, failed = 0, 0
    try:
        for test in sorted(tests, key=lambda t: t.__code__.co_firstlineno):
            try:
                test(fake)
                passed += 1
                print(f"ok   {test.__name__}")
            except Exception as error:  # report every failure, then fail
                failed += 1
                print(f"FAIL {test.__name__}: {error!r}")
    finally:
        fake.stop()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
