"""The pytest plugin as a user of the wheel meets it: only the `nexus_gateway`
fixture, the standard library, and the Gateway's own wire contract. A suite to
copy."""

import json
import urllib.error
import urllib.request

import pytest

from nexus_gateway_fake import FakeGatewayError

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url, headers=None):
    """(status, JSON or text) of a GET; an error status is an answer too."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with OPENER.open(request, timeout=30) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def resolve(gateway, workspace, provider):
    return get(f"{gateway.url}/v1/resolve?workspace_id={workspace}&provider_name={provider}")


def test_a_seeded_token_resolves_and_reaches_the_provider_api(nexus_gateway):
    nexus_gateway.seed({"providers": [
        {"workspace": "ws-1", "name": "github", "token": "gho_seeded", "api_base_url": "$UPSTREAM_URL"},
    ]})
    status, token = resolve(nexus_gateway, "ws-1", "github")
    assert status == 200, token
    assert token["credentials"]["access_token"] == "gho_seeded"
    status, listing = get(f"{nexus_gateway.url}/v1/providers/metadata")
    assert listing["oauth2"]["github"]["api_base_url"] == nexus_gateway.upstream_url
    auth = {"Authorization": "Bearer gho_seeded"}
    status, answer = get(f"{nexus_gateway.upstream_url}/user", headers=auth)
    assert status == 200 and answer["path"] == "/user", answer


def test_the_request_log_and_reset(nexus_gateway):
    nexus_gateway.add_provider("ws-1", "linear", token="lin_x")
    resolve(nexus_gateway, "ws-1", "linear")
    paths = [r["path"] for r in nexus_gateway.requests()]
    assert paths == ["/v1/resolve"], paths
    nexus_gateway.reset()
    assert nexus_gateway.requests() == []
    assert resolve(nexus_gateway, "ws-1", "linear")[0] == 404, "reset forgets what was added"


def test_faults_rate_limits_and_broker_states(nexus_gateway):
    nexus_gateway.add_provider("ws-1", "github", token="gho_x")
    nexus_gateway.fault(503, route="resolve", count=1)
    assert resolve(nexus_gateway, "ws-1", "github")[0] == 503
    assert resolve(nexus_gateway, "ws-1", "github")[0] == 200
    nexus_gateway.rate_limits(resolve_rpm=1)
    assert resolve(nexus_gateway, "ws-1", "github")[0] == 200
    status, said = resolve(nexus_gateway, "ws-1", "github")
    assert (status, said) == (429, "Too Many Requests\n")
    nexus_gateway.rate_limits(enabled=False)
    nexus_gateway.broker("unreachable")
    status, said = resolve(nexus_gateway, "ws-1", "github")
    assert status == 502 and said["error"] == "broker_unavailable", said


def test_a_refused_control_call_raises_with_the_fakes_message(nexus_gateway):
    with pytest.raises(FakeGatewayError, match="unknown Broker state"):
        nexus_gateway.broker("asleep")
    with pytest.raises(FakeGatewayError, match="unknown key"):
        nexus_gateway.seed({"providers": [{"workspace": "w", "name": "p", "token": "t", "api_base": "x"}]})


def test_each_test_gets_its_own_gateway(nexus_gateway):
    assert nexus_gateway.requests() == [], "nothing from an earlier test"


# --- What a new user gets wrong, refused at the door or helped ---

@pytest.mark.parametrize("status", ["actve", "revokd", "Active", ""])
def test_a_connection_status_the_fake_does_not_know_is_refused_at_every_door(nexus_gateway, status):
    conn = "3f1b2c4d-0000-4000-8000-000000000001"
    nexus_gateway.add_provider("ws-1", "github", token="gho_x")
    with pytest.raises(FakeGatewayError, match="not a connection status the fake knows .*active, pending"):
        nexus_gateway.add_connection(conn, "github", "gho_x", status=status)
    with pytest.raises(FakeGatewayError, match="not a connection status the fake knows"):
        nexus_gateway.seed({"connections": [{"id": conn, "provider": "github", "token": "t", "status": status}]})
    nexus_gateway.add_connection(conn, "github", "gho_x")
    with pytest.raises(FakeGatewayError, match="not a connection status the fake knows"):
        nexus_gateway.set_status(conn, status)
    assert get(f"{nexus_gateway.url}/v1/check-connection/{conn}")[1] == {"status": "active"}


def test_a_broker_clear_with_a_state_is_refused_not_half_done(nexus_gateway):
    with pytest.raises(FakeGatewayError, match="`clear` .* takes nothing else"):
        nexus_gateway.broker("failing", clear=True)


def test_a_negative_expires_in_answers_an_expired_token(nexus_gateway):
    nexus_gateway.add_provider("ws-1", "github", token="gho_old", expires_in=-60)
    status, token = resolve(nexus_gateway, "ws-1", "github")
    assert status == 200, token
    assert token["credentials"]["expired"] is True, token


def test_seed_takes_a_dict_or_a_path_and_says_which_it_was_given(nexus_gateway, tmp_path):
    seed = {"providers": [{"workspace": "ws-1", "name": "github", "token": "gho_file",
                           "api_base_url": "${UPSTREAM_URL}"}]}
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    nexus_gateway.seed(path)
    status, listing = get(f"{nexus_gateway.url}/v1/providers/metadata")
    assert listing["oauth2"]["github"]["api_base_url"] == nexus_gateway.upstream_url, listing
    nexus_gateway.seed(str(path))
    with pytest.raises(FakeGatewayError, match=r"takes the seed as a dict.*JSON text\? pass json.loads"):
        nexus_gateway.seed(json.dumps(seed))
    with pytest.raises(FakeGatewayError, match="names no file"):
        nexus_gateway.seed("seed.json")
    with pytest.raises(FakeGatewayError, match="not a list"):
        nexus_gateway.seed([seed])
    with pytest.raises(FakeGatewayError, match=r"`\$\{HOME\}` is not a variable the seed knows"):
        nexus_gateway.seed({"providers": [{"workspace": "w", "name": "p", "token": "t",
                                           "api_base_url": "${HOME}/x"}]})


def test_a_hold_ends_by_itself_so_a_call_without_a_timeout_never_hangs(nexus_gateway):
    nexus_gateway.add_provider("ws-1", "github", token="gho_x")
    nexus_gateway.hold(route="resolve", seconds=0.5)
    status, _ = resolve(nexus_gateway, "ws-1", "github")  # held, then answered
    assert status == 200


def test_a_control_call_after_stop_says_the_fake_was_stopped(nexus_gateway):
    nexus_gateway.stop()
    with pytest.raises(FakeGatewayError, match="was stopped"):
        nexus_gateway.requests()


def test_a_failing_control_call_points_at_the_tests_line(pytester):
    pytester.makepyfile(
        """
        from nexus_gateway_fake import FakeGateway

        def test_typo():
            with FakeGateway() as gateway:
                gateway.set_status("3f1b2c4d-0000-4000-8000-000000000001", "actve")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert 'gateway.set_status("3f1b2c4d' in text, text
    assert "def _control" not in text and "urlopen" not in text, text
