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
        raise FakeGatewayError(
            f"{PROGRAM} is not installed. From a clone of nexus-gateway-sdk (Rust needed once, "
            "to build): scripts/build-wheels, then pip install target/wheels/nexus_gateway_fake-*.whl "
            "(or pip install ./nexus-gateway-fake); once the package is published: "
            "pip install nexus-gateway-fake. See docs/install.md."
        )
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
        self._stopped = False

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()

    def stop(self):
        """Stops the program; a control call after it raises :class:`FakeGatewayError`."""
        self._stopped = True
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
        __tracebackhide__ = True  # a failure points at the test's own line
        if self._stopped:
            raise FakeGatewayError(
                f"this fake Gateway was stopped (FakeGateway.stop(), or the end of the test that "
                f"had it): {method} /_fake/{what} reaches nothing; start another"
            )
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
        """Adds or replaces the seed's providers and connections. ``document``
        is the seed as a dict (the format ``--seed`` reads), or the path of a
        seed file (a ``str`` or ``os.PathLike``); ``$UPSTREAM_URL`` (or
        ``${UPSTREAM_URL}``) stands for :attr:`upstream_url`."""
        __tracebackhide__ = True
        if isinstance(document, (str, os.PathLike)):
            path = os.fspath(document)
            if not os.path.isfile(path):
                shown = path if len(path) <= 80 else path[:80] + "…"
                hint = " (JSON text? pass json.loads(text))" if path.lstrip().startswith("{") else ""
                raise FakeGatewayError(
                    f"seed() takes the seed as a dict, or the path of a seed file; {shown!r} "
                    f"names no file{hint}"
                )
            with open(path, encoding="utf-8") as file:
                try:
                    document = json.load(file)
                except ValueError as error:
                    raise FakeGatewayError(f"{path} is not JSON: {error}") from None
        elif not isinstance(document, dict):
            raise FakeGatewayError(
                f"seed() takes the seed as a dict, or the path of a seed file, not a "
                f"{type(document).__name__}"
            )
        self._control("POST", "seed", document)

    def add_provider(self, workspace, name, token=None, **fields):
        """Adds or replaces one provider of the seed format (``strategy``,
        ``api_base_url``, ``expires_in``, ``rotating``, …)."""
        __tracebackhide__ = True
        provider = {"workspace": workspace, "name": name, **fields}
        if token is not None:
            provider["token"] = token
        self._control("POST", "providers", provider)

    def remove_provider(self, workspace, name):
        """Removes a provider."""
        __tracebackhide__ = True
        query = urllib.parse.urlencode({"workspace": workspace, "name": name})
        self._control("DELETE", f"providers?{query}")

    def add_connection(self, connection_id, provider, token, status="active", **fields):
        """Adds or replaces one connection of the seed format."""
        __tracebackhide__ = True
        connection = {"id": connection_id, "provider": provider, "token": token, "status": status}
        self._control("POST", "connections", {**connection, **fields})

    def set_status(self, connection_id, status):
        """Sets a connection's status (``active``, ``pending``, ``revoked``, ``attention``, …)."""
        __tracebackhide__ = True
        self._control("POST", f"connections/{connection_id}/status", {"status": status})

    def broker(self, state=None, **answer):
        """The Broker's ``state`` (``healthy``, ``failing``, ``unreachable``,
        ``hung``), or the answer it gives on one route (``route``, ``status``,
        ``content_type``, ``body``), or ``clear=True`` to forget the scripts
        (alone: with a state or an answer it is refused)."""
        __tracebackhide__ = True
        self._control("POST", "broker", {**answer, "state": state} if state else answer)

    def fault(self, status, route=None, count=1, content_type=None, body=None):
        """The next ``count`` requests to ``route`` (any route when ``None``)
        get this answer instead of the real one."""
        __tracebackhide__ = True
        fault = {"status": status, "count": count, "route": route,
                 "content_type": content_type, "body": body}
        self._control("POST", "faults", {k: v for k, v in fault.items() if v is not None})

    def rate_limits(self, enabled=True, **figures):
        """The Gateway's rate limiter: ``resolve_rpm``, ``token_rpm``,
        ``request_connection_rpm``, ``callback_rpm``, ``minute_ms``."""
        __tracebackhide__ = True
        self._control("POST", "rate-limits", {"enabled": enabled, **figures})

    def latency(self, ms):
        """Every answer waits ``ms`` milliseconds."""
        __tracebackhide__ = True
        self._control("POST", "latency", {"ms": ms})

    def hold(self, route=None, seconds=10):
        """Holds the next request to ``route`` (any route when ``None``) until
        :meth:`release`, for ``seconds`` at most (10 by default): a call of
        the test's own without a timeout is answered then, never hangs the
        test. Every hold ends with the test, when its fake stops."""
        __tracebackhide__ = True
        hold = {"seconds": seconds}
        if route:
            hold["route"] = route
        self._control("POST", "hold", hold)

    def release(self):
        """Lets every held request go."""
        __tracebackhide__ = True
        self._control("POST", "release")

    def requests(self):
        """Every request the Gateway received, oldest first: method, path,
        query, headers, body."""
        __tracebackhide__ = True
        return self._control("GET", "requests")

    def reset(self):
        """Back to the state the program started in."""
        __tracebackhide__ = True
        self._control("POST", "reset")

