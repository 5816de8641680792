// `nexus-mcp serve` under the official MCP TypeScript v2 client's
// `CrossAppAccessProvider` (Enterprise-Managed Authorization, SEP-990):
// the host holds the person's ID token from the team's provider; the
// provider's assertion callback exchanges it there for an ID-JAG (RFC 8693,
// `discoverAndRequestJwtAuthGrant`) naming the authorization server the
// client discovered, and the provider presents it at serve's `/token` with
// the confidential client `serve client add` made. No browser, no consent
// page. Calls list_providers, then fetches <provider API URL>/user through
// github with the person's credential. Prints each call's error flag and
// text as JSON.
//
//   NEXUS_IDP_URL NEXUS_IDP_CLIENT NEXUS_IDP_SECRET NEXUS_ID_TOKEN
//   NEXUS_CLIENT_ID NEXUS_CLIENT_SECRET NEXUS_ISSUER
//   node serve_cross_app.mjs <MCP URL> <provider API URL>

import {
  Client,
  CrossAppAccessProvider,
  StreamableHTTPClientTransport,
  discoverAndRequestJwtAuthGrant,
} from "@modelcontextprotocol/client";

const [url, api] = process.argv.slice(2);
const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const provider = new CrossAppAccessProvider({
  assertion: async (ctx) => {
    const result = await discoverAndRequestJwtAuthGrant({
      idpUrl: env("NEXUS_IDP_URL"),
      audience: ctx.authorizationServerUrl,
      resource: ctx.resourceUrl,
      idToken: env("NEXUS_ID_TOKEN"),
      clientId: env("NEXUS_IDP_CLIENT"),
      clientSecret: env("NEXUS_IDP_SECRET"),
      scope: ctx.scope,
      fetchFn: ctx.fetchFn,
    });
    return result.jwtAuthGrant;
  },
  clientId: env("NEXUS_CLIENT_ID"),
  clientSecret: env("NEXUS_CLIENT_SECRET"),
  clientName: "nexus-mcp serve test (cross-app)",
  expectedIssuer: env("NEXUS_ISSUER"),
});
const client = new Client({ name: "nexus-mcp-cross-app-test", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
const calls = [];
for (const [name, args] of [
  ["list_providers", {}],
  ["authenticated_fetch", { provider: "github", url: `${api}/user` }],
]) {
  const result = await client.callTool({ name, arguments: args });
  calls.push({
    is_error: result.isError === true,
    text: (result.content ?? []).map((c) => c.text ?? "").join("\n"),
  });
}
await client.close();
console.log(JSON.stringify({ calls }));
