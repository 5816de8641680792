"""Drive the stdio MCP server example with the official MCP Python client.

Usage: python mcp_client.py SERVER_BINARY GATEWAY_URL UPSTREAM_URL STDOUT_COPY OUTSIDE_URL

OUTSIDE_URL is outside the credential scope: the call to it must be refused.

The server runs behind `tee`, so that every byte it writes to stdout is kept
in STDOUT_COPY for the caller to check line by line: the MCP client skips a
line that is not JSON-RPC, so only a direct check catches a stray one.
Prints one JSON object describing what the session saw.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def run(server: str, gateway_url: str, upstream_url: str, stdout_copy: str, outside_url: str) -> dict:
    params = StdioServerParameters(
        command="sh",
        args=["-c", 'exec "$0" | tee "$1"', server, stdout_copy],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NEXUS_GATEWAY_URL": gateway_url,
            "NEXUS_WORKSPACE_ID": "ws-e2e",
            "NEXUS_LOG": "debug",
        },
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            await session.send_ping()
            tools = await session.list_tools()
            result = await session.call_tool(
                "authenticated_fetch",
                {"provider": "github", "url": upstream_url + "/user/repos", "headers": {"X-E2E": "1"}},
            )
            failure = await session.call_tool(
                "authenticated_fetch", {"provider": "github", "url": outside_url + "/?x="}
            )
    return {
        "protocol_version": init.protocol_version,
        "server_name": init.server_info.name,
        "tools": [t.name for t in tools.tools],
        "required": tools.tools[0].input_schema.get("required"),
        "is_error": result.is_error,
        "text": result.content[0].text,
        "failure_is_error": failure.is_error,
        "failure_text": failure.content[0].text,
    }


if __name__ == "__main__":
    summary = asyncio.run(run(*sys.argv[1:6]))
    print(json.dumps(summary))
