"""Reach `nexus-mcp serve` with the official MCP Python client's
`IdentityAssertionOAuthProvider` (SEP-990, Enterprise-Managed
Authorization): the host holds the person's ID token from the team's
provider; the assertion callback exchanges it there for an ID-JAG (RFC
8693) naming the authorization server configured for the client, and the
provider presents it at serve's `/token` (RFC 7523 jwt-bearer) with the
confidential client `serve client add` made. No browser, no consent page.
Calls list_providers, then fetches API_URL/user through github.

Usage: NEXUS_IDP_URL NEXUS_IDP_CLIENT NEXUS_IDP_SECRET NEXUS_ID_TOKEN
       NEXUS_CLIENT_ID NEXUS_CLIENT_SECRET NEXUS_ISSUER [NEXUS_SCOPE, asked
       of the provider]
       python serve_cross_app.py MCP_URL API_URL

Prints one JSON object: each call's error flag and text.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import Client
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from serve_oauth import Memory


async def id_jag(audience, resource):
    """The ID-JAG the team's provider exchanges the person's ID token for."""
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "requested_token_type": "urn:ietf:params:oauth:token-type:id-jag",
        "subject_token": os.environ["NEXUS_ID_TOKEN"],
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "audience": audience,
        "resource": resource,
    }
    if os.environ.get("NEXUS_SCOPE"):
        form["scope"] = os.environ["NEXUS_SCOPE"]
    basic = (os.environ["NEXUS_IDP_CLIENT"], os.environ["NEXUS_IDP_SECRET"])
    async with httpx2.AsyncClient() as http:
        answer = await http.post(os.environ["NEXUS_IDP_URL"] + "/token", data=form, auth=basic)
        answer.raise_for_status()
        return answer.json()["access_token"]


async def run(url, api):
    provider = IdentityAssertionOAuthProvider(
        server_url=url,
        storage=Memory(),
        client_id=os.environ["NEXUS_CLIENT_ID"],
        client_secret=os.environ["NEXUS_CLIENT_SECRET"],
        issuer=os.environ["NEXUS_ISSUER"],
        assertion_provider=id_jag,
    )
    calls = [
        ("list_providers", {}),
        ("authenticated_fetch", {"provider": "github", "url": api + "/user"}),
    ]
    results = []
    async with httpx2.AsyncClient(auth=provider) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            for name, arguments in calls:
                result = await client.call_tool(name, arguments)
                results.append({"is_error": result.is_error, "text": result.content[0].text})
    return {"calls": results}


if __name__ == "__main__":
    mcp_url, api_url = sys.argv[1:]
    print(json.dumps(asyncio.run(run(mcp_url, api_url))))
