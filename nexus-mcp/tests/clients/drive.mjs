// nexus-mcp under the official MCP TypeScript client (@modelcontextprotocol/sdk):
// a session as an MCP host opens one, over stdio. Prints what it saw as JSON
// for tests/official_clients.rs to check; any stray byte on the server's
// stdout, or a structured result that does not match its tool's output
// schema, fails the client itself.
//
//   node drive.mjs <nexus-mcp> <gateway URL> <provider API URL> <another origin>

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [binary, gateway, api, outside] = process.argv.slice(2);

async function open(args) {
  const env = { ...process.env, NEXUS_GATEWAY_URL: gateway, NEXUS_WORKSPACE_ID: "ws-1" };
  delete env.NEXUS_ALLOWED_ORIGINS;
  delete env.NEXUS_CREDENTIAL_SCOPE;
  const transport = new StdioClientTransport({ command: binary, args, env, stderr: "ignore" });
  const client = new Client({ name: "nexus-mcp-tests", version: "1.0.0" });
  const errors = [];
  client.onerror = (error) => errors.push(String(error));
  await client.connect(transport);
  return { client, errors };
}

const text = (result) => result.content.filter((c) => c.type === "text").map((c) => c.text).join("");
const fetch = (provider, url, extra = {}) => ({
  name: "authenticated_fetch",
  arguments: { provider, url, ...extra },
});

const { client, errors } = await open([]);
const tools = (await client.listTools()).tools;
const listed = await client.callTool({ name: "list_providers", arguments: {} });
const inside = await client.callTool(fetch("github", `${api}/user`, { headers: { Accept: "application/json" } }));
const elsewhere = await client.callTool(fetch("github", `${outside}/steal`));
const post = await client.callTool(fetch("github", `${api}/repos`, { method: "POST", body: "{}" }));
const bad = await client.callTool({ name: "authenticated_fetch", arguments: { provider: "github" } });
const server = client.getServerVersion();
await client.close();

const writer = await open(["--allow-write", "--provider", "github"]);
const writeTools = (await writer.client.listTools()).tools;
const posted = await writer.client.callTool(fetch("github", `${api}/repos`, { method: "POST", body: "{}" }));
const other = await writer.client.callTool(fetch("stripe", `${api}/v1/charges`));
await writer.client.close();

const summary = {
  server,
  tools: tools.map((t) => ({ name: t.name, annotations: t.annotations, output: !!t.outputSchema })),
  providers: listed.structuredContent.providers.map((p) => p.name),
  inside: { isError: !!inside.isError, text: text(inside), structured: inside.structuredContent },
  elsewhere: { isError: !!elsewhere.isError, text: text(elsewhere) },
  post: { isError: !!post.isError, text: text(post) },
  bad: { isError: !!bad.isError, text: text(bad) },
  write_annotations: writeTools.find((t) => t.name === "authenticated_fetch").annotations,
  posted: { isError: !!posted.isError, status: posted.structuredContent?.status },
  other: { isError: !!other.isError, text: text(other) },
  errors: [...errors, ...writer.errors],
};
console.log(JSON.stringify(summary));
