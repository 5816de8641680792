"""Drive nexus-mcp's connect on first use round by round, with the official
MCP Python client, where the high-level call hides what is being tested.

Usage: python rounds.py SERVER_BINARY GATEWAY_URL SCENARIO URL [SERVER_ARG...]

SCENARIO:
  tampered  2026-07-28: the retry carries the requestState with one
            character changed, then one sealed for another URL
  cancel    (NEXUS_MCP_ERA=2026 or 2025) a call held for the user is
            cancelled by the client while the user has not consented; then
            a second call, whose user consents, must be offered the flow at
            once and answer the API's answer
  ignore    2025: the user leaves the prompt open past --connect-wait
  malformed 2026-07-28: a retry with the true requestState but no answer
            to its input request, then a new call, before the user
            consents; then the true retry

Prints one JSON object with what each round answered.
"""

import asyncio
import json
import os
import sys
import urllib.request

from mcp import Client, ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

ERA = os.environ.get("NEXUS_MCP_ERA", "2025")


def params(server, gateway_url, server_args):
    return StdioServerParameters(
        command=server,
        args=server_args,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NEXUS_GATEWAY_URL": gateway_url,
            "NEXUS_WORKSPACE_ID": "ws-new",
        },
    )


def shown(result):
    """A result as the summary keeps it."""
    if isinstance(result, types.InputRequiredResult):
        return {"input_required": True, "keys": sorted(result.input_requests or {})}
    return {"is_error": result.is_error, "text": result.content[0].text}


def hand_driven(server, gateway_url, server_args):
    """A client that declares URL elicitation, its rounds driven by hand."""
    async def never(context, p):
        raise AssertionError("not called")

    return Client(params(server, gateway_url, server_args), elicitation_callback=never)


async def tampered(server, gateway_url, url, server_args):
    async with hand_driven(server, gateway_url, server_args) as client:
        session = client.session
        call = {"provider": "github", "url": url}
        first = await session.call_tool("authenticated_fetch", call, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult), first
        (key, asked), = first.input_requests.items()
        with urllib.request.urlopen(asked.params.url, timeout=10) as page:  # the user consents
            page.read()
        accept = {key: {"action": "accept"}}
        state = first.request_state
        flipped = state[:-1] + ("A" if state[-1] != "A" else "B")
        rounds = [
            await session.call_tool("authenticated_fetch", call, allow_input_required=True,
                                    input_responses=accept, request_state=flipped),
            await session.call_tool("authenticated_fetch", {"provider": "github", "url": url + "?other"},
                                    allow_input_required=True, input_responses=accept,
                                    request_state=state),
            await session.call_tool("authenticated_fetch", call, allow_input_required=True,
                                    input_responses=accept, request_state="not a state"),
            await session.call_tool("authenticated_fetch", call, allow_input_required=True,
                                    input_responses=accept, request_state=state),
        ]
        return {"version": client.protocol_version, "rounds": [shown(r) for r in rounds]}


async def malformed(server, gateway_url, url, server_args):
    async with hand_driven(server, gateway_url, server_args) as client:
        session = client.session
        call = {"provider": "github", "url": url}
        first = await session.call_tool("authenticated_fetch", call, allow_input_required=True)
        (key, asked), = first.input_requests.items()
        state = first.request_state
        rounds = [
            await session.call_tool("authenticated_fetch", call, allow_input_required=True,
                                    input_responses={}, request_state=state),
            await session.call_tool("authenticated_fetch", call, allow_input_required=True,
                                    input_responses={"other": {"action": "accept"}},
                                    request_state=state),
        ]
        again = await session.call_tool("authenticated_fetch", call, allow_input_required=True)
        (_, asked_again), = again.input_requests.items()
        with urllib.request.urlopen(asked.params.url, timeout=10) as page:  # the user consents
            page.read()
        rounds.append(await session.call_tool("authenticated_fetch", call, allow_input_required=True,
                                              input_responses={key: {"action": "accept"}},
                                              request_state=state))
        return {"rounds": [shown(r) for r in rounds],
                "same_page": asked.params.url == asked_again.params.url}


async def cancel(server, gateway_url, url, server_args):
    """The first call's user agrees but never consents, and its client
    cancels it; the second call's user consents."""
    events = {"asked": [], "dismissed": 0}
    opened, dismissed = asyncio.Event(), asyncio.Event()
    consent = {"now": False}

    async def elicit(context, p):
        events["asked"].append(p.url)
        if consent["now"]:
            with urllib.request.urlopen(p.url, timeout=10) as page:
                page.read()
            return types.ElicitResult(action="accept")
        opened.set()
        if ERA == "2026":
            return types.ElicitResult(action="accept")  # agreed to go; never finishes
        try:
            await asyncio.sleep(3600)  # the prompt stays open
        except asyncio.CancelledError:
            events["dismissed"] += 1  # the server cancelled the prompt: the host dismisses it
            dismissed.set()
            raise

    call = {"provider": "github", "url": url, "method": "DELETE"}

    async def scenario(session):
        first = asyncio.create_task(session.call_tool("authenticated_fetch", call))
        await opened.wait()
        await asyncio.sleep(0.5 if ERA == "2026" else 0)  # the retry is under way
        first.cancel()
        try:
            await first
        except asyncio.CancelledError:
            pass
        if ERA != "2026":
            try:  # the server's notifications/cancelled for its prompt
                await asyncio.wait_for(dismissed.wait(), 20)
            except asyncio.TimeoutError:
                pass
        consent["now"] = True
        second = await asyncio.wait_for(
            session.call_tool("authenticated_fetch", {"provider": "github", "url": url}), 30)
        return shown(second)

    p = params(server, gateway_url, server_args)
    if ERA == "2026":
        async with Client(p, elicitation_callback=elicit) as client:
            second = await scenario(client)
    else:
        async with stdio_client(p) as (read, write):
            async with ClientSession(read, write, elicitation_callback=elicit) as session:
                await session.initialize()
                second = await scenario(session)
    return {"second": second, **events}


async def ignore(server, gateway_url, url, server_args):
    events = {"dismissed": 0}

    async def elicit(context, p):
        try:
            await asyncio.sleep(3600)  # the prompt stays open
        except asyncio.CancelledError:
            events["dismissed"] += 1
            raise

    async with stdio_client(params(server, gateway_url, server_args)) as (read, write):
        async with ClientSession(read, write, elicitation_callback=elicit) as session:
            await session.initialize()
            result = await session.call_tool("authenticated_fetch", {"provider": "github", "url": url})
            await asyncio.sleep(0.2)  # the dismissal, sent before the answer, is handled
    return {"result": shown(result), **events}


if __name__ == "__main__":
    server, gateway_url, scenario, url, *server_args = sys.argv[1:]
    run = {"tampered": tampered, "malformed": malformed, "cancel": cancel, "ignore": ignore}[scenario]
    print(json.dumps(asyncio.run(run(server, gateway_url, url, server_args))))
