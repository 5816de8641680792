// nexus-mcp's connect on first use under the official MCP TypeScript v2
// client (`@modelcontextprotocol/client` 2.x). Its default mode is
// `legacy` (MCP 2025-11-25, `initialize`); with NEXUS_MCP_ERA=2026 it is
// `auto`, which probes with `server/discover` and speaks MCP 2026-07-28: a
// call that needs the user answers `input_required`, the client runs its
// `elicitation/create` handler (which opens the consent URL as the user's
// browser would, then accepts) and calls again with the answer and the
// `requestState`. Two concurrent calls, then one more; prints what it saw
// as JSON for tests/connect_2026.rs.
//
//   node connect_v2.mjs <nexus-mcp> <gateway URL> <provider API URL> [server args...]

import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

const [binary, gateway, api, ...args] = process.argv.slice(2);
const env = { ...process.env, NEXUS_GATEWAY_URL: gateway, NEXUS_WORKSPACE_ID: "ws-new" };
delete env.NEXUS_ALLOWED_ORIGINS;
delete env.NEXUS_CREDENTIAL_SCOPE;
const transport = new StdioClientTransport({ command: binary, args, env, stderr: "inherit" });
const client = new Client(
  { name: "nexus-mcp-connect-v2", version: "1.0.0" },
  {
    capabilities: { elicitation: { url: {} } },
    ...(process.env.NEXUS_MCP_ERA === "2026" ? { versionNegotiation: { mode: "auto" } } : {}),
  },
);
const asked = [];
client.setRequestHandler("elicitation/create", async (request) => {
  const { mode, message, url } = request.params;
  asked.push({ mode, message, url });
  await (await globalThis.fetch(url)).text(); // the user's browser
  return { action: "accept" };
});
await client.connect(transport);
const version = client.getNegotiatedProtocolVersion();
const call = { name: "authenticated_fetch", arguments: { provider: "github", url: `${api}/user` } };
const together = await Promise.all([1, 2].map(() => client.callTool(call)));
const after = await client.callTool(call);
await client.close();
const text = (r) => r.content.filter((c) => c.type === "text").map((c) => c.text).join("");
const results = [...together, after].map((r) => ({ is_error: !!r.isError, text: text(r), structured: r.structuredContent ?? null }));
console.log(JSON.stringify({ version, results, asked }));
