// A local OpenID Connect provider for the sign-in tests, served under Microsoft Entra ID's v2.0
// path layout so that only the authority URL differs between production and the tests:
//
//   /{tenant}/v2.0/.well-known/openid-configuration
//   /{tenant}/oauth2/v2.0/authorize | token | logout
//   /{tenant}/discovery/v2.0/keys
//
// It is oauth2-mock-server (real RS256 keys, JWKS, PKCE checks) with its hooks shaping Entra-like
// ID tokens: iss = {base}/{tenant}/v2.0, tid, oid, preferred_username, name, roles, groups.
//
// Tests shape the next tokens through a small control API (never present in Entra):
//   POST /__control/profile  {"claims": {...}, "remove": ["groups"], "tamper": true,
//                              "expires_in": -600}   -> used for every following ID token
//   POST /__control/reset                            -> back to the default profile
//   GET  /__control/requests                         -> the authorize/token requests seen
//
// Usage: node entra-mock.mjs --tenant TENANT_ID [--port 0] [--host 127.0.0.1]
// Prints one JSON line {"base_url": ..., "tenant": ...} on stdout once it listens.

import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const { values: args } = parseArgs({
  options: {
    tenant: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const tenant = args.tenant;
if (!tenant) {
  console.error('--tenant is required');
  process.exit(2);
}

const paths = {
  wellKnownDocument: `/${tenant}/v2.0/.well-known/openid-configuration`,
  authorize: `/${tenant}/oauth2/v2.0/authorize`,
  token: `/${tenant}/oauth2/v2.0/token`,
  endSession: `/${tenant}/oauth2/v2.0/logout`,
  jwks: `/${tenant}/discovery/v2.0/keys`,
  userinfo: '/oidc/userinfo',
  revoke: `/${tenant}/oauth2/v2.0/revoke`,
  introspect: `/${tenant}/oauth2/v2.0/introspect`,
};

const issuer = new OAuth2Issuer();
await issuer.keys.generate('RS256');
const service = new OAuth2Service(issuer, paths);

let profile = {};
let seen = [];

// ID tokens are built with aud = client id and no scope; access tokens carry a scope.
service.on('beforeTokenSigning', (token, req) => {
  const payload = token.payload;
  if ('scope' in payload) {
    return;
  }
  const now = Math.floor(Date.now() / 1000);
  Object.assign(payload, {
    ver: '2.0',
    tid: tenant,
    oid: '00000000-0000-0000-0000-0000000000a1',
    sub: 'pairwise-subject-a1',
    preferred_username: 'alice@contoso.example',
    name: 'Alice Example',
  });
  if (profile.expires_in !== undefined) {
    payload.iat = now + profile.expires_in - 3600;
    payload.nbf = payload.iat;
    payload.exp = now + profile.expires_in;
  }
  Object.assign(payload, profile.claims ?? {});
  for (const name of profile.remove ?? []) {
    delete payload[name];
  }
});

service.on('beforeResponse', (response, req) => {
  seen.push({ kind: 'token', body: { ...req.body, client_secret: req.body.client_secret ? '***' : undefined } });
  if (profile.tamper && response.body.id_token) {
    // Flip one character in the middle of the signature: the token still parses, the signature fails.
    const [head, body, signature] = response.body.id_token.split('.');
    const i = Math.floor(signature.length / 2);
    const flipped = signature[i] === 'A' ? 'B' : 'A';
    response.body.id_token = [head, body, signature.slice(0, i) + flipped + signature.slice(i + 1)].join('.');
  }
});

service.on('beforeAuthorizeRedirect', (redirect, req) => {
  seen.push({ kind: 'authorize', query: { ...req.query } });
});

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (chunk) => (data += chunk));
    req.on('end', () => {
      try {
        resolve(data ? JSON.parse(data) : {});
      } catch (error) {
        reject(error);
      }
    });
  });
}

let baseUrl = '';

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://local');
  if (url.pathname === '/__control/profile' && req.method === 'POST') {
    profile = await readJson(req);
    return sendJson(res, 200, { ok: true });
  }
  if (url.pathname === '/__control/reset' && req.method === 'POST') {
    profile = {};
    seen = [];
    return sendJson(res, 200, { ok: true });
  }
  if (url.pathname === '/__control/requests') {
    return sendJson(res, 200, seen);
  }
  if (url.pathname === paths.wellKnownDocument) {
    // Entra's discovery document lists endpoints under the tenant, not under the issuer URL.
    const root = `${baseUrl}/${tenant}`;
    return sendJson(res, 200, {
      issuer: issuer.url,
      authorization_endpoint: `${root}/oauth2/v2.0/authorize`,
      token_endpoint: `${root}/oauth2/v2.0/token`,
      end_session_endpoint: `${root}/oauth2/v2.0/logout`,
      jwks_uri: `${root}/discovery/v2.0/keys`,
      userinfo_endpoint: `${baseUrl}/oidc/userinfo`,
      response_types_supported: ['code'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      code_challenge_methods_supported: ['plain', 'S256'],
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce', 'tid', 'oid', 'preferred_username', 'name', 'roles', 'groups'],
    });
  }
  return service.requestHandler(req, res);
});

server.listen(Number(args.port), args.host, () => {
  const { port } = server.address();
  baseUrl = `http://${args.host}:${port}`;
  issuer.url = `${baseUrl}/${tenant}/v2.0`;
  process.stdout.write(JSON.stringify({ base_url: baseUrl, tenant, issuer: issuer.url }) + '\n');
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
