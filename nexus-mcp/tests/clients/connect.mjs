// nexus-mcp's connect on first use under the official MCP TypeScript client,
// as a host that declares URL elicitation sets it up: its handler opens the
// consent URL as the user's browser would (a GET), then accepts. Two
// concurrent calls, then one more; prints what it saw as JSON for
// tests/connect.rs.
//
//   node connect.mjs <nexus-mcp> <gateway URL> <provider API URL> [server args...]

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const [binary, gateway, api, ...args] = process.argv.slice(2);
const env = { ...process.env, NEXUS_GATEWAY_URL: gateway, NEXUS_WORKSPACE_ID: "ws-new" };
delete env.NEXUS_ALLOWED_ORIGINS;
delete env.NEXUS_CREDENTIAL_SCOPE;
const transport = new StdioClientTransport({ command: binary, args, env, stderr: "ignore" });
const client = new Client(
  { name: "nexus-mcp-connect-tests", version: "1.0.0" },
  { capabilities: { elicitation: { url: {} } } },
);
const asked = [];
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  const { mode, message, url, elicitationId } = request.params;
  asked.push({ mode, message, url, id: elicitationId });
  await (await globalThis.fetch(url)).text(); // the user's browser
  return { action: "accept" };
});
await client.connect(transport);
const call = { name: "authenticated_fetch", arguments: { provider: "github", url: `${api}/user` } };
const options = { resetTimeoutOnProgress: true };
const together = await Promise.all([1, 2].map(() => client.callTool(call, undefined, options)));
const after = await client.callTool(call, undefined, options);
await client.close();
const text = (r) => r.content.filter((c) => c.type === "text").map((c) => c.text).join("");
const results = [...together, after].map((r) => ({ is_error: !!r.isError, text: text(r), structured: r.structuredContent ?? null }));
console.log(JSON.stringify({ results, asked }));
