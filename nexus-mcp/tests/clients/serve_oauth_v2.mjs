// `nexus-mcp serve` under the official MCP TypeScript v2 client
// (`@modelcontextprotocol/client` 2.x) over Streamable HTTP with its OAuth
// client provider: the first connect meets the 401, discovers the
// metadata, registers, sends the "browser" to the issuer (which approves the
// person the test named) and throws `UnauthorizedError`; the code is
// exchanged with `finishAuth`, and the client connects again and calls.
// With NEXUS_MCP_ERA=2026 it speaks MCP 2026-07-28, else 2025-11-25.
// Prints the version and each call's error flag and text as JSON.
//
//   node serve_oauth_v2.mjs <MCP URL> <provider API URL>

import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";

const [url, api] = process.argv.slice(2);
const redirectUrl = "http://127.0.0.1:9/callback";
let sentBack;
const stored = {};
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return {
      redirect_uris: [redirectUrl],
      client_name: "nexus-mcp serve test (v2)",
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  },
  clientInformation: () => stored.client,
  saveClientInformation: (client) => { stored.client = client; },
  tokens: () => stored.tokens,
  saveTokens: (tokens) => { stored.tokens = tokens; },
  saveCodeVerifier: (verifier) => { stored.verifier = verifier; },
  codeVerifier: () => stored.verifier,
  async redirectToAuthorization(authorizationUrl) {
    // The user's browser: the issuer approves, and sends it back.
    const answer = await globalThis.fetch(authorizationUrl, { redirect: "manual" });
    sentBack = new URL(answer.headers.get("location"));
  },
};
const options = process.env.NEXUS_MCP_ERA === "2026" ? { versionNegotiation: { mode: "auto" } } : {};

async function connected() {
  const client = new Client({ name: "nexus-mcp-serve-v2", version: "1.0.0" }, options);
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  try {
    await client.connect(transport);
    return client;
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    await transport.finishAuth(sentBack.searchParams);
    const again = new Client({ name: "nexus-mcp-serve-v2", version: "1.0.0" }, options);
    await again.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
    return again;
  }
}

const client = await connected();
const version = client.getNegotiatedProtocolVersion();
const results = [];
for (const call of [
  { name: "list_providers", arguments: {} },
  { name: "authenticated_fetch", arguments: { provider: "github", url: `${api}/user` } },
]) {
  const result = await client.callTool(call);
  results.push({ is_error: result.isError ?? false, text: result.content[0].text });
}
await client.close();
console.log(JSON.stringify({ version, results }));
