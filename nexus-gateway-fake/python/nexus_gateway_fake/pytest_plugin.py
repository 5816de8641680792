"""The pytest plugin of the `nexus-gateway-fake` wheel: the ``nexus_gateway``
fixture, a fake Nexus Gateway started on a free loopback port for one test
and stopped after it."""

import pytest

from nexus_gateway_fake import FakeGateway


@pytest.fixture
def nexus_gateway():
    """A running :class:`nexus_gateway_fake.FakeGateway`: ``.url`` (set it as
    ``NEXUS_GATEWAY_URL``), ``.upstream_url``, ``.seed(dict or path)``,
    ``.requests()``, ``.reset()`` and the rest of the control API. It stops
    when the test ends, and every hold with it; a control call after that
    raises :class:`nexus_gateway_fake.FakeGatewayError`."""
    with FakeGateway() as gateway:
        yield gateway
