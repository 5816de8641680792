"""Drive nexus-mcp's connect on first use with the official MCP Python client.

Usage: python connect.py SERVER_BINARY GATEWAY_URL SCENARIO URL [SERVER_ARG...]

With NEXUS_MCP_ERA=2026 the client is `mcp.Client` in its default mode,
which speaks MCP 2026-07-28 (`server/discover`, no `initialize`: a call
that needs the user answers `input_required` and the client calls again);
otherwise `ClientSession` after `initialize` (2025-11-25).

SCENARIO is what the user does when the server sends them to consent:
  accept   opens the URL (as a browser would: a GET), then accepts
  decline  declines without opening it
  none     this client declares no elicitation at all

Makes 4 concurrent authenticated_fetch calls to URL for provider `github`,
then one more, and prints one JSON object: each result's error flag and
text, the structured content, and every elicitation the client received
(mode, message, url, id).
"""

import asyncio
import json
import os
import sys
import urllib.request

from mcp import Client, ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client


async def run(server, gateway_url, scenario, url, server_args):
    asked = []

    async def elicit(context, params):
        asked.append({"mode": params.mode, "message": params.message,
                      "url": getattr(params, "url", None),
                      "id": getattr(params, "elicitation_id", None)})
        if scenario == "decline":
            return types.ElicitResult(action="decline")
        with urllib.request.urlopen(params.url, timeout=10) as page:  # the user's browser
            page.read()
        return types.ElicitResult(action="accept")

    params = StdioServerParameters(
        command=server,
        args=server_args,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NEXUS_GATEWAY_URL": gateway_url,
            "NEXUS_WORKSPACE_ID": "ws-new",
        },
    )
    callback = None if scenario == "none" else elicit
    results = []
    if os.environ.get("NEXUS_MCP_ERA") == "2026":
        async with Client(params, elicitation_callback=callback) as session:
            await calls(session, url, results)
            version = session.protocol_version
    else:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write, elicitation_callback=callback) as session:
                version = (await session.initialize()).protocol_version
                await calls(session, url, results)
    return {"results": results, "asked": asked, "version": version}


async def calls(session, url, results):
    call = {"provider": "github", "url": url}
    together = await asyncio.gather(
        *[session.call_tool("authenticated_fetch", call) for _ in range(4)])
    after = await session.call_tool("authenticated_fetch", call)
    listed = await session.call_tool("list_providers", {})
    for result in [*together, after, listed]:
        results.append({
            "is_error": result.is_error,
            "text": result.content[0].text,
            "structured": result.structured_content,
        })


if __name__ == "__main__":
    server, gateway_url, scenario, url, *server_args = sys.argv[1:]
    print(json.dumps(asyncio.run(run(server, gateway_url, scenario, url, server_args))))
