// `nexus-mcp serve` under the official MCP TypeScript v2 client
// (`@modelcontextprotocol/client` 2.x) over Streamable HTTP with its OAuth
// client provider: the first connect meets the 401, discovers the
// metadata, registers, sends the "browser" to the issuer (which approves the
// person the test named) and throws `UnauthorizedError`; the code is
// exchanged with `finishAuth`, and the client connects again and calls.
// With NEXUS_MCP_ERA=2026 it speaks MCP 2026-07-28, else 2025-11-25.
// With NEXUS_MCP_CONNECT=1 it declares URL elicitation, and its handler is
// the user's browser: it follows the connect page's redirects (the issuer's
// login, then the Gateway's consent), keeping the page's cookie, and accepts.
// On 2025-11-25 the link comes as a `-32042` error's elicitation
// (`UrlElicitationRequiredError`): the browser opens it, and the call is
// made again.
// NEXUS_MCP_CALLS, a JSON list of {name, arguments}, replaces the two calls
// made by default (list_providers, then a fetch of <provider API URL>/user).
// NEXUS_MCP_CLIENT, a registration's JSON, is the client the provider holds
// (registered beforehand, with its own scope); NEXUS_MCP_CALL_ERRORS=1 says
// a call that throws (a step-up refused) as the last call's error result.
// Each authorization's scope is printed ("authorizations").
// Prints the version, each tool's input schema, each call's error flag and
// text, and the links, as JSON.
//
//   node serve_oauth_v2.mjs <MCP URL> <provider API URL>

import {
  Client,
  StreamableHTTPClientTransport,
  UnauthorizedError,
  UrlElicitationRequiredError,
} from "@modelcontextprotocol/client";

const [url, api] = process.argv.slice(2);
const redirectUrl = "http://127.0.0.1:9/callback";
let sentBack;
const stored = { client: JSON.parse(process.env.NEXUS_MCP_CLIENT || "null") ?? undefined };
const authorizations = [];
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
    // The user's browser, until it is sent back: the issuer approves; an
    // authorization server's consent page (serve --oauth-proxy's) is
    // allowed; redirects followed by hand, every cookie kept by name (one
    // host, 127.0.0.1, whatever the port, as a browser keeps them).
    authorizations.push(new URL(authorizationUrl).searchParams.get("scope") ?? "");
    let [at, form] = [authorizationUrl.toString(), undefined];
    const jar = new Map();
    for (let hop = 0; hop < 20; hop++) {
      const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
      const headers = cookie ? { cookie } : {};
      const asked = form
        ? { method: "POST", body: form, headers: { ...headers, origin: new URL(at).origin, "content-type": "application/x-www-form-urlencoded" } }
        : { headers };
      const answer = await globalThis.fetch(at, { ...asked, redirect: "manual" });
      for (const set of answer.headers.getSetCookie()) {
        const [pair] = set.split(";");
        const at = pair.indexOf("=");
        jar.set(pair.slice(0, at), pair.slice(at + 1));
      }
      const next = answer.headers.get("location");
      if (next) {
        [at, form] = [new URL(next, at).toString(), undefined];
        if (at.startsWith(redirectUrl)) {
          sentBack = new URL(at);
          return;
        }
        continue;
      }
      const pending = (await answer.clone().text()).split('name=pending value="')[1]?.split('"')[0];
      if (!pending) {
        const said = (await answer.clone().text()).replace(/<[^>]+>/g, " ");
        throw new Error(`the authorization answered ${answer.status}: ${said}`);
      }
      [at, form] = [new URL("/authorize", at).toString(), new URLSearchParams({ pending }).toString()];
    }
    throw new Error("the browser was never sent back");
  },
};
const connect = process.env.NEXUS_MCP_CONNECT === "1";
const options = {
  ...(process.env.NEXUS_MCP_ERA === "2026" ? { versionNegotiation: { mode: "auto" } } : {}),
  ...(connect ? { capabilities: { elicitation: { url: {} } } } : {}),
};
const links = [];

// The user's browser: redirects followed by hand, the server's cookie kept for it.
async function browse(link) {
  const server = new URL(url).origin;
  let [at, cookie] = [link, undefined];
  for (let hop = 0; hop < 10; hop++) {
    const headers = cookie && new URL(at).origin === server ? { cookie } : {};
    const answer = await globalThis.fetch(at, { redirect: "manual", headers });
    const set = answer.headers.get("set-cookie");
    if (set) cookie = set.split(";")[0];
    const next = answer.headers.get("location");
    if (!next) return answer.status;
    at = new URL(next, at).toString();
  }
  throw new Error("too many redirects");
}

function withUser(client) {
  if (!connect) return client;
  client.setRequestHandler("elicitation/create", async (request) => {
    await openPage(request.params.url);
    return { action: "accept" };
  });
  return client;
}

async function openPage(link) {
  links.push(link);
  const status = await browse(link);
  if (status !== 200) throw new Error(`the consent page answered ${status}`);
}

async function callTool(client, call) {
  try {
    return await client.callTool(call);
  } catch (error) {
    if (!(error instanceof UrlElicitationRequiredError)) throw error;
    for (const asked of error.elicitations) await openPage(asked.url);
    return await client.callTool(call);
  }
}

async function connected() {
  const client = withUser(new Client({ name: "nexus-mcp-serve-v2", version: "1.0.0" }, options));
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  try {
    await client.connect(transport);
    return client;
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    await transport.finishAuth(sentBack.searchParams);
    const again = withUser(new Client({ name: "nexus-mcp-serve-v2", version: "1.0.0" }, options));
    await again.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
    return again;
  }
}

const client = await connected();
const version = client.getNegotiatedProtocolVersion();
const calls = JSON.parse(process.env.NEXUS_MCP_CALLS || "null") ?? [
  { name: "list_providers", arguments: {} },
  { name: "authenticated_fetch", arguments: { provider: "github", url: `${api}/user` } },
];
const { tools } = await client.listTools();
const schemas = Object.fromEntries(tools.map((tool) => [tool.name, tool.inputSchema]));
const results = [];
for (const call of calls) {
  try {
    const result = await callTool(client, call);
    results.push({ is_error: result.isError ?? false, text: result.content[0].text });
  } catch (error) {
    // A step-up the server refused, said as the last call's.
    if (process.env.NEXUS_MCP_CALL_ERRORS !== "1") throw error;
    results.push({ is_error: true, text: `${error.name}: ${error.message}` });
    break;
  }
}
let refreshed = null;
if (process.env.NEXUS_MCP_REFRESH === "1") {
  // The access token's hour, passed: the server refuses it (401), and the
  // client refreshes at whichever replica answers, then calls again.
  const before = stored.tokens.refresh_token;
  stored.tokens = { ...stored.tokens, access_token: "an-access-token-whose-hour-has-passed" };
  for (const call of calls) {
    const result = await callTool(client, call);
    results.push({ is_error: result.isError ?? false, text: result.content[0].text });
  }
  refreshed = Boolean(before) && stored.tokens.refresh_token !== before;
}
await client.close();
console.log(JSON.stringify({ version, tools: schemas, results, links, refreshed, authorizations }));
