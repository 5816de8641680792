// A real, certified OpenID provider (node's `oidc-provider`), set up as a
// team would set it up in front of `nexus-mcp serve`: dynamic registration,
// PKCE, RFC 8707 resource indicators, and the access tokens it issues for
// the MCP server's resource either JWTs or opaque ones that the server
// introspects (RFC 7662) as a confidential client.
//
// Usage: node oidc_provider.mjs PORT MODE RESOURCE CONNECT_CALLBACK
//   MODE              jwt | opaque: the access tokens issued for RESOURCE;
//                     entra: set up as Entra ID is (no registration, no PKCE
//                     advertised, no resource indicators, OpenID's scopes
//                     alone, `sub` pairwise, `oid` only with `profile`, the
//                     login client confidential: secret `connect-secret`);
//                     okta, google: set up as Okta's org server and Google
//                     are, for the proxy likewise (see `shaped` below)
//   RESOURCE          the MCP server's public URL, the only resource served
//   CONNECT_CALLBACK  the redirect URI of the connect page's login client
//
// Clients registered ahead: `nexus-mcp-connect` (public, the connect page's
// login) and `nexus-mcp-introspect` (secret `introspect-secret`, which may
// only introspect). Anyone else registers dynamically.
//
// The person who logs in is the test's to say: `POST /_test/person/NAME`
// makes the next logins NAME's (the login page a person would fill in is
// the test's own interaction, which approves at once); `GET
// /_test/introspections` says how many introspection requests it answered.
// As Entra, the login client gets a refresh token (Entra gives one for
// `offline_access`, which `serve` asks; oidc-provider, following OpenID
// Core, drops that scope unless `prompt=consent`, so here the client's
// grant types decide), and what an administrator does is the test's too:
// `POST /_test/claims/NAME` with a JSON object sets NAME's claims (their
// `groups`, `hd`; released as MODE's provider releases them), and
// `POST /_test/disable/NAME` deletes NAME's account, so that a refresh
// of theirs is refused (`invalid_grant`).
// As Okta's Cross App Access, it issues ID-JAGs (RFC 8693 at /token,
// `registerGrantType`): the host client `nexus-mcp-host` (secret
// `host-secret`) exchanges a person's ID token it got here for an ID-JAG
// naming an audience the administrator let it reach: `POST
// /_test/reach/AUDIENCE` with the client id it has there as the body.
// Prints `listening` on stdout once it serves.

import { createHash, createSign, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import Provider, { errors } from 'oidc-provider';

const [port, mode, resource, connectCallback] = process.argv.slice(2);
if (!['jwt', 'opaque', 'entra', 'okta', 'google'].includes(mode)) {
  throw new Error(`MODE is jwt, opaque, entra, okta or google, not ${mode}`);
}
const entra = mode === 'entra';
// Set up as a provider `serve --oauth-proxy` signs people in at: no host
// registers, the login client is confidential, a scope's claims go into
// the ID token itself, and a sign-in gets a refresh token.
const proxied = ['entra', 'okta', 'google'].includes(mode);
// Where each provider writes a person's claims, as its vendor documents
// it: Entra's groups (groupMembershipClaims) and `oid` (with `profile`);
// Okta's org server, `groups` only for the `groups` scope with the app's
// groups claim filter set (`POST /_test/filter` with a JSON prefix; only
// the groups it matches), `email` for `email`; Google's `hd` for a
// Workspace person and `email` for `email`, and no groups at all.
const shaped = {
  entra: { scopes: ['openid', 'profile', 'email', 'offline_access'], claims: { openid: ['sub', 'groups'], profile: ['oid'] } },
  okta: { scopes: ['openid', 'profile', 'email', 'offline_access', 'groups'], claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] } },
  google: { scopes: ['openid', 'profile', 'email'], claims: { openid: ['sub', 'hd'], email: ['email', 'email_verified'] } },
}[mode] ?? { scopes: ['openid', 'mcp'], claims: { openid: ['sub'] } };
let filter;
const issuer = `http://127.0.0.1:${port}`;
let person = 'nobody';
let introspections = 0;
const claimsOf = new Map();
const reaches = new Map();
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
const disabled = new Set();

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signing = { ...privateKey.export({ format: 'jwk' }), kid: 'signing-1', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'nexus-mcp-connect',
      ...(proxied
        ? {
            client_secret: 'connect-secret',
            token_endpoint_auth_method: 'client_secret_basic',
            subject_type: entra ? 'pairwise' : 'public',
            grant_types: ['authorization_code', 'refresh_token'],
          }
        : { token_endpoint_auth_method: 'none' }),
      redirect_uris: [connectCallback],
    },
    {
      client_id: 'nexus-mcp-host',
      client_secret: 'host-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', TOKEN_EXCHANGE],
      redirect_uris: ['http://127.0.0.1:9/cb'],
    },
    {
      client_id: 'nexus-mcp-introspect',
      client_secret: 'introspect-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  jwks: { keys: [signing] },
  cookies: { keys: ['a-cookie-key-for-the-test-provider'] },
  findAccount: async (_ctx, id) => (disabled.has(id) ? undefined : {
    accountId: id,
    claims: async () => released(id),
  }),
  scopes: shaped.scopes,
  // Entra: `oid` only with `profile`; `sub` one per application.
  claims: shaped.claims,
  ...(proxied ? {
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
  } : {}),
  subjectTypes: entra ? ['public', 'pairwise'] : ['public'],
  pairwiseIdentifier: async (_ctx, id, client) =>
    createHash('sha256').update(`${id}\0${client.sectorIdentifier}`).digest('base64url'),
  // Entra writes a scope's claims into the ID token itself.
  conformIdTokenClaims: !proxied,
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: !proxied },
    introspection: { enabled: !proxied },
    resourceIndicators: {
      enabled: !proxied,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== resource) throw new errors.InvalidTarget();
        return {
          audience: resource,
          scope: 'mcp',
          accessTokenTTL: 3600,
          accessTokenFormat: mode,
          ...(mode === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
        };
      },
    },
  },
});

// Entra advertises no PKCE (it takes it all the same): the MCP spec tells a
// host to refuse such a server.
provider.use(async (ctx, next) => {
  await next();
  if (entra && ctx.path === '/.well-known/openid-configuration') {
    delete ctx.body.code_challenge_methods_supported;
  }
});

// RFC 8693 for an ID-JAG, as Okta documents Cross App Access: the host's
// ID token from here (its `aud` the host) for a five-minute ID-JAG naming
// an audience the administrator let it reach, signed with this provider's key.
provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
  const { params, client } = ctx.oidc;
  if (params.requested_token_type !== ID_JAG
      || params.subject_token_type !== 'urn:ietf:params:oauth:token-type:id_token') {
    throw new errors.InvalidRequest('requested_token_type is …:id-jag, subject_token_type …:id_token');
  }
  let subject;
  try {
    subject = (await provider.IdToken.validate(params.subject_token, client)).payload.sub;
  } catch {
    throw new errors.InvalidGrant('the subject token is no ID token of ours for this client');
  }
  const there = reaches.get(params.audience);
  if (!there) throw new errors.InvalidTarget('this client may not reach that audience');
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: issuer, sub: subject, aud: params.audience, client_id: there, jti: randomUUID(),
    iat: now, exp: now + 300, ...(params.scope ? { scope: params.scope } : {}),
    ...(params.resource ? { resource: params.resource } : {}),
  };
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signed = `${part({ alg: 'RS256', kid: 'signing-1', typ: 'oauth-id-jag+jwt' })}.${part(claims)}`;
  const signature = createSign('RSA-SHA256').update(signed).sign(privateKey).toString('base64url');
  ctx.body = {
    access_token: `${signed}.${signature}`, issued_token_type: ID_JAG, token_type: 'N_A',
    expires_in: 300, ...(params.scope ? { scope: params.scope } : {}),
  };
}, ['requested_token_type', 'subject_token', 'subject_token_type', 'audience', 'resource', 'scope']);

// What went wrong inside the provider, on stderr (the test shows it).
provider.on('server_error', (_ctx, error) => console.error(error));

// The login page and the consent page, approved at once as `person`.
async function interact(req, res) {
  const { prompt, grantId, params, session } = await provider.interactionDetails(req, res);
  if (prompt.name === 'login') {
    const login = { login: { accountId: person } };
    return provider.interactionFinished(req, res, login, { mergeWithLastSubmission: false });
  }
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
  if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
  if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const consent = { consent: { grantId: await grant.save() } };
  return provider.interactionFinished(req, res, consent, { mergeWithLastSubmission: true });
}

// The test as the provider's administrator: who logs in next, a person's
// groups, a person deleted.
function administer(what, name, req, res) {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    if (what === 'person') person = name;
    if (what === 'claims') claimsOf.set(name, JSON.parse(body));
    if (what === 'disable') disabled.add(name);
    if (what === 'filter') filter = JSON.parse(body);
    if (what === 'reach') reaches.set(name, body);
    res.writeHead(204).end();
  });
}

// A person's claims as the provider holds them, Okta's groups through its
// filter (none without one).
function released(id) {
  const held = { sub: id, oid: id, email: `${id}@example.com`, email_verified: true, ...(claimsOf.get(id) ?? {}) };
  if (mode === 'okta' && held.groups) {
    if (filter === undefined) delete held.groups;
    else held.groups = held.groups.filter((group) => group.startsWith(filter));
  }
  if (mode === 'google') delete held.groups;
  return held;
}

const serve = provider.callback();
createServer((req, res) => {
  const named = req.url.match(/^\/_test\/(person|claims|disable|filter|reach)\/([^/?]+)$/);
  if (req.method === 'POST' && named) {
    administer(named[1], decodeURIComponent(named[2]), req, res);
  } else if (req.url === '/_test/introspections') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(String(introspections));
  } else if (req.url.startsWith('/interaction/')) {
    interact(req, res).catch((error) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    });
  } else {
    if (req.url.startsWith('/token/introspection')) introspections += 1;
    serve(req, res);
  }
}).listen(Number(port), '127.0.0.1', () => console.log('listening'));
