"""The fake Nexus Gateway, for tests in Python.

The wheel `nexus-gateway-fake` carries the `nexus-gateway-fake` program (a
fake Gateway and a fake provider API on loopback, answering as the real
Gateway was measured to answer) and this package: :class:`FakeGateway` starts
the program and drives its control API with the standard library only, and
the pytest plugin gives each test one as the ``nexus_gateway`` fixture.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["FakeGateway", "FakeGatewayError", "program"]

PROGRAM = "nexus-gateway-fake"

# Loopback only: an environment proxy never stands in the way.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class FakeGatewayError(Exception):
    """The fake refused a control call (its message says why), or could not start."""


def program():
    """The path of the `nexus-gateway-fake` program: the one this environment's
    scripts directory holds (where the wheel put it), else the user scheme's
    (a ``pip install --user``), else the first on ``PATH``."""
    name = PROGRAM + (".exe" if os.name == "nt" else "")
    try:
        user = sysconfig.get_preferred_scheme("user")
    except AttributeError:  # Python before 3.10
        user = f"{os.name}_user"
    for folder in (sysconfig.get_path("scripts"), sysconfig.get_path("scripts", user)):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    found = shutil.which(PROGRAM)
    if found is None:
        raise FakeGatewayError(f"{PROGRAM} is not installed: pip install nexus-gateway-fake")
    return found


class FakeGateway:
    """A running fake Gateway on a free loopback port.

    ``url`` is the Gateway (``NEXUS_GATEWAY_URL``), ``upstream_url`` the fake
    provider API every seeded provider's ``api_base_url`` names by default.
    Use it as a context manager, or call :meth:`stop`.
    """

    def __init__(self, *args, env=None):
        """Starts the program with its flags ``args`` (``--seed FILE``,
        ``--workspace W``, …) and ``env`` added to the environment (the
        Gateway's ``RATE_LIMIT_*`` variables, …)."""
        environment = dict(os.environ, **(env or {}))
        self._process = subprocess.Popen(
            [program(), "--host", "127.0.0.1", "--port", "0", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=environment,
        )
        lines = [self._process.stdout.readline().strip() for _ in range(2)]
        urls = dict(line.split("=", 1) for line in lines if "=" in line)
        if set(urls) != {"NEXUS_GATEWAY_URL", "UPSTREAM_URL"}:
            self._process.wait(timeout=10)
            said = self._process.stderr.read().strip()
            raise FakeGatewayError(said or f"{PROGRAM} did not start")
        self.url = urls["NEXUS_GATEWAY_URL"]
        self.upstream_url = urls["UPSTREAM_URL"]

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()

    def stop(self):
        """Stops the program."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for stream in (self._process.stdout, self._process.stderr):
            stream.close()

    def _control(self, method, what, body=None):
        """One control call; its JSON answer, or :class:`FakeGatewayError`
        carrying the fake's message."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/_fake/{what}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with _OPENER.open(request, timeout=30) as answer:
                text = answer.read().decode()
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            try:
                message = json.loads(text).get("message", text)
            except ValueError:
                message = text
            raise FakeGatewayError(message) from None
        return json.loads(text) if text else None

    def seed(self, document):
        """Adds or replaces the seed's providers and connections (the format
        ``--seed`` reads; ``$UPSTREAM_URL`` stands for :attr:`upstream_url`)."""
        self._control("POST", "seed", document)

    def add_provider(self, workspace, name, token=None, **fields):
        """Adds or replaces one provider of the seed format (``strategy``,
        ``api_base_url``, ``expires_in``, ``rotating``, …)."""
        provider = {"workspace": workspace, "name": name, **fields}
        if token is not None:
            provider["token"] = token
        self._control("POST", "providers", provider)

    def remove_provider(self, workspace, name):
        """Removes a provider."""
        query = urllib.parse.urlencode({"workspace": workspace, "name": name})
        self._control("DELETE", f"providers?{query}")

    def add_connection(self, connection_id, provider, token, status="active", **fields):
        """Adds or replaces one connection of the seed format."""
        connection = {"id": connection_id, "provider": provider, "token": token, "status": status}
        self._control("POST", "connections", {**connection, **fields})

    def set_status(self, connection_id, status):
        """Sets a connection's status (``active``, ``pending``, ``revoked``, ``attention``, …)."""
        self._control("POST", f"connections/{connection_id}/status", {"status": status})

    def broker(self, state=None, **answer):
        """The Broker's ``state`` (``healthy``, ``failing``, ``unreachable``,
        ``hung``), or the answer it gives on one route (``route``, ``status``,
        ``content_type``, ``body``), or ``clear=True`` to forget the scripts."""
        self._control("POST", "broker", {"state": state} if state else answer)

    def fault(self, status, route=None, count=1, content_type=None, body=None):
        """The next ``count`` requests to ``route`` (any route when ``None``)
        get this answer instead of the real one."""
        fault = {"status": status, "count": count, "route": route,
                 "content_type": content_type, "body": body}
        self._control("POST", "faults", {k: v for k, v in fault.items() if v is not None})

    def rate_limits(self, enabled=True, **figures):
        """The Gateway's rate limiter: ``resolve_rpm``, ``token_rpm``,
        ``request_connection_rpm``, ``callback_rpm``, ``minute_ms``."""
        self._control("POST", "rate-limits", {"enabled": enabled, **figures})

    def latency(self, ms):
        """Every answer waits ``ms`` milliseconds."""
        self._control("POST", "latency", {"ms": ms})

    def hold(self, route=None):
        """Holds the next request to ``route`` until :meth:`release`."""
        self._control("POST", "hold", {"route": route} if route else {})

    def release(self):
        """Lets every held request go."""
        self._control("POST", "release")

    def requests(self):
        """Every request the Gateway received, oldest first: method, path,
        query, headers, body."""
        return self._control("GET", "requests")

    def reset(self):
        """Back to the state the program started in."""
        self._control("POST", "reset")

