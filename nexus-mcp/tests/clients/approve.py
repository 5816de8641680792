"""Drive an approval over stdio with the official MCP Python client.

Usage: python approve.py SERVER_BINARY GATEWAY_URL SCENARIO URL [SERVER_ARG...]

With NEXUS_MCP_ERA=2026 the client is `mcp.Client` in its default mode
(MCP 2026-07-28: a call that needs the user answers `input_required`, and
the client calls again with the answers); otherwise `ClientSession` after
`initialize` (2025-11-25: the server sends `elicitation/create`).

SCENARIO is what the user does with the approval form:
  approve  accepts it with approve=true
  connect  the same, in workspace ws-new, where `github` is not connected
           yet: sent to connect it, the user opens the consent URL as a
           browser would, then accepts
  deny     declines it
  unticked accepts it with approve=false
  none     this client declares no elicitation at all

Makes one POST authenticated_fetch to URL for provider `github` (body
{"amount": 20000}), then one GET, and prints one JSON object: each result's
error flag and text, every elicitation the client received (mode, message,
url, the form's fields), and the protocol version.
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
        schema = getattr(params, "requested_schema", None) or {}
        asked.append({"mode": params.mode, "message": params.message,
                      "url": getattr(params, "url", None),
                      "fields": sorted((schema.get("properties") or {}).keys())})
        if params.mode == "url":
            with urllib.request.urlopen(params.url, timeout=10) as page:  # the browser
                page.read()
            return types.ElicitResult(action="accept")
        if scenario == "deny":
            return types.ElicitResult(action="decline")
        approve = scenario in ("approve", "connect")
        return types.ElicitResult(action="accept", content={"approve": approve})

    params = StdioServerParameters(
        command=server,
        args=server_args,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NEXUS_GATEWAY_URL": gateway_url,
            "NEXUS_WORKSPACE_ID": "ws-new" if scenario == "connect" else "ws-1",
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
    post = {"provider": "github", "url": url, "method": "POST",
            "body": json.dumps({"amount": 20000}),
            "headers": {"content-type": "application/json"}}
    get = {"provider": "github", "url": url}
    for call in (post, get):
        result = await session.call_tool("authenticated_fetch", call)
        results.append({"is_error": result.is_error, "text": result.content[0].text})


if __name__ == "__main__":
    server, gateway_url, scenario, url, *server_args = sys.argv[1:]
    print(json.dumps(asyncio.run(run(server, gateway_url, scenario, url, server_args))))
