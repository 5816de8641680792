"""Reach `nexus-mcp serve` with the official MCP Python client over
Streamable HTTP, through its OAuth client provider: the whole chain of a
401, the protected-resource metadata, the issuer's metadata, dynamic
registration, PKCE, the code, the token, and the calls.

Usage: python serve_oauth.py MCP_URL API_URL

NEXUS_MCP_ERA=2026 speaks MCP 2026-07-28 (stateless); otherwise the
client's legacy mode (`initialize`, 2025-11-25). The "browser" asks the
authorization URL and reads where it is sent back, as a user whose login
the issuer approves (the issuer's pages are followed until it sends the
browser back; an authorization server's consent page, as `serve
--oauth-proxy` shows, is allowed).

With NEXUS_MCP_CONNECT=1, the client declares URL elicitation, and its
handler is the user's browser: it opens the link the server sends (the
connect page, which logs it in at the issuer, then sends it on to the
Gateway's consent), keeping cookies and following redirects, then accepts.
In the legacy era the link comes as a `-32042` error's elicitation: the
browser opens it, and the call is made again. Every link is printed.

NEXUS_MCP_CALLS, a JSON list of {"name", "arguments"}, replaces the two
calls made by default (list_providers, then a fetch of API_URL/user).
NEXUS_MCP_CLIENT, a registration's JSON, is the client the storage holds
(registered beforehand, with its own scope); NEXUS_MCP_CALL_ERRORS=1 says a
call that raises (a step-up refused) as an error result, the last call.
Each authorization's scope is printed ("authorizations").

Prints one JSON object: the version, each tool's input schema, each call's
error flag and text, and the links.
"""

import asyncio
import http.cookiejar
import json
import os
import sys
import urllib.parse

import httpx2
from mcp import Client, MCPError, UrlElicitationRequiredError, types
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata

REDIRECT = "http://127.0.0.1:9/callback"


class BrowserCookies(http.cookiejar.DefaultCookiePolicy):
    """A browser's rule for Secure cookies: sent over https, and to a
    loopback host, which browsers count as a secure context (Python's
    default sends them over https alone)."""

    def return_ok_secure(self, cookie, request):
        host = urllib.parse.urlsplit(request.get_full_url()).hostname
        return request.type == "https" or host in ("127.0.0.1", "localhost", "::1")


def browser_cookies():
    return http.cookiejar.CookieJar(policy=BrowserCookies())


def origin_of(url):
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Memory(TokenStorage):
    def __init__(self):
        self.tokens, self.client = None, None
        registered = os.environ.get("NEXUS_MCP_CLIENT")
        if registered:
            self.client = OAuthClientInformationFull.model_validate_json(registered)

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


def said(error):
    """Every exception `error` holds (a task group's, flattened), one a line."""
    if isinstance(error, BaseExceptionGroup):
        return "\n".join(said(one) for one in error.exceptions)
    return f"{type(error).__name__}: {error}"


async def run(url, api):
    sent_back = {}
    authorizations = []

    async def browser(authorization_url):
        asked = urllib.parse.parse_qs(urllib.parse.urlsplit(authorization_url).query)
        authorizations.append(asked.get("scope", [""])[0])
        # The issuer's pages, followed (their cookies kept) until it sends
        # the browser back to the client.
        url = authorization_url
        async with httpx2.AsyncClient(follow_redirects=False, cookies=browser_cookies()) as http:
            for _ in range(10):
                answer = await http.get(url)
                if answer.status_code == 200 and 'name=pending value="' in answer.text:
                    # An authorization server's consent page (serve
                    # --oauth-proxy's): the user allows it.
                    pending = answer.text.split('name=pending value="', 1)[1].split('"', 1)[0]
                    action = urllib.parse.urljoin(url, "/authorize")
                    # Sent from the page, as a browser sends a form: with its Origin.
                    answer = await http.post(
                        action, data={"pending": pending}, headers={"Origin": origin_of(url)}
                    )
                assert answer.status_code in (302, 303), (answer.status_code, answer.text)
                url = urllib.parse.urljoin(url, answer.headers["location"])
                if url.startswith(REDIRECT):
                    sent_back["url"] = url
                    return
        raise AssertionError(f"the issuer never sent the browser back: {url}")

    async def callback():
        query = urllib.parse.parse_qs(urllib.parse.urlparse(sent_back["url"]).query)
        first = lambda name: query.get(name, [None])[0]
        return AuthorizationCodeResult(code=first("code"), state=first("state"), iss=first("iss"))

    metadata = OAuthClientMetadata(
        redirect_uris=[REDIRECT],
        client_name="nexus-mcp serve test",
        grant_types=["authorization_code"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=metadata,
        storage=Memory(),
        redirect_handler=browser,
        callback_handler=callback,
    )
    mode = "2026-07-28" if os.environ.get("NEXUS_MCP_ERA") == "2026" else "legacy"
    results, links = [], []

    async def open_page(link):
        links.append(link)
        async with httpx2.AsyncClient(follow_redirects=True, cookies=browser_cookies()) as browser:
            page = await browser.get(link)
            assert page.status_code == 200, (page.status_code, page.text)

    async def user(context, params):
        await open_page(params.url)
        return types.ElicitResult(action="accept")

    async def call(client, name, arguments):
        try:
            return await client.call_tool(name, arguments)
        except MCPError as error:
            if error.code != -32042:
                raise
            for asked in UrlElicitationRequiredError.from_error(error.error).elicitations:
                await open_page(asked.url)
            return await client.call_tool(name, arguments)

    connect = os.environ.get("NEXUS_MCP_CONNECT") == "1"
    calls = json.loads(os.environ.get("NEXUS_MCP_CALLS") or "null") or [
        {"name": "list_providers", "arguments": {}},
        {"name": "authenticated_fetch", "arguments": {"provider": "github", "url": api + "/user"}},
    ]
    version, schemas, refreshed = None, {}, None
    try:
        async with httpx2.AsyncClient(auth=provider) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, mode=mode, elicitation_callback=user if connect else None) as client:
                listed = await client.list_tools()
                schemas = {tool.name: tool.input_schema for tool in listed.tools}
                for made in calls:
                    result = await call(client, made["name"], made["arguments"])
                    results.append({"is_error": result.is_error, "text": result.content[0].text})
                refreshed = None
                if os.environ.get("NEXUS_MCP_REFRESH") == "1":
                    # The access token's hour, passed as the client reckons it:
                    # the client refreshes before its next call, then calls.
                    before = provider.context.current_tokens.refresh_token
                    provider.context.token_expiry_time = 1.0  # (0 reads as "none")
                    for made in calls:
                        result = await call(client, made["name"], made["arguments"])
                        results.append({"is_error": result.is_error, "text": result.content[0].text})
                    after = provider.context.current_tokens.refresh_token
                    refreshed = bool(before) and bool(after) and before != after
                version = client.protocol_version
    except Exception as error:  # a step-up the server refused, said as the last call's
        if os.environ.get("NEXUS_MCP_CALL_ERRORS") != "1":
            raise
        results.append({"is_error": True, "text": said(error)})
    return {
        "version": version,
        "tools": schemas,
        "results": results,
        "links": links,
        "refreshed": refreshed,
        "authorizations": authorizations,
    }


if __name__ == "__main__":
    mcp_url, api_url = sys.argv[1:]
    print(json.dumps(asyncio.run(run(mcp_url, api_url))))
