// A real OpenID Provider (the npm package oidc-provider) for aiwfe's OAuth tests.
//
//   node server.mjs config.json
//
// config.json: { "host": "127.0.0.1", "ports": [main, other], "clients": [...], "access_token_ttl": 60 }
// Two issuers share one process, one client list and (until a rotation) one signing key:
//   http://host:main   the provider under test
//   http://host:other  a second issuer, so tests can present a correctly signed token from the wrong issuer
// Sign-in uses oidc-provider's development interactions: any login is accepted as the account id.
// Account ids starting with "unverified" have an unverified email; an id holding "@" is its own email.
// Test-only endpoints on the main port:
//   POST /__test/rotate-keys   put a new signing key first (the old one stays published)
//   GET  /api/user, /api/user/emails   GitHub's user API, answering for the bearer access token
//   DELETE /api/applications/<client_id>/grant   GitHub's grant revocation (basic auth, {"access_token"})

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

let keys = [newKey()];

function claimsFor(id) {
  return {
    sub: id,
    email: id.includes('@') ? id : `${id}@op.example.com`,
    email_verified: !id.startsWith('unverified'),
    name: `Test ${id}`,
  };
}

function provider(issuer) {
  const op = new Provider(issuer, {
    clients: config.clients,
    jwks: { keys },
    async findAccount(ctx, id) {
      return { accountId: id, async claims() { return claimsFor(id); } };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'read:user', 'user:email'],
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
    },
    pkce: { required: () => true },
    ttl: {
      AccessToken: config.access_token_ttl,
      AuthorizationCode: 60,
      IdToken: 300,
      RefreshToken: 24 * 3600,
      Grant: 24 * 3600,
      Interaction: 600,
      Session: 3600,
    },
    cookies: { keys: ['aiwfe-test-op-cookie-key'] },
  });
  // devInteractions print a warning per instance; the tests know.
  return op;
}

const issuers = config.ports.map((port) => `http://${config.host}:${port}`);
let main = provider(issuers[0]);
let mainHandler = main.callback();
const other = provider(issuers[1]);

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function githubApi(req, res) {
  const token = (req.headers.authorization || '').replace(/^Bearer /i, '');
  const found = token ? await main.AccessToken.find(token) : undefined;
  if (!found) return json(res, 401, { message: 'Bad credentials' });
  const claims = claimsFor(found.accountId);
  if (req.url === '/api/user') {
    return json(res, 200, { id: `gh-${found.accountId}`, login: found.accountId, name: claims.name });
  }
  return json(res, 200, [{ email: claims.email, primary: true, verified: claims.email_verified }]);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function githubRevokeGrant(req, res, clientId) {
  const client = config.clients.find((c) => c.client_id === clientId);
  const basic = Buffer.from((req.headers.authorization || '').replace(/^Basic /i, ''), 'base64').toString();
  if (!client || basic !== `${client.client_id}:${client.client_secret}`) {
    return json(res, 401, { message: 'Requires authentication' });
  }
  const { access_token: token } = JSON.parse((await readBody(req)) || '{}');
  const found = token ? await main.AccessToken.find(token) : undefined;
  if (!found || found.clientId !== clientId) return json(res, 404, { message: 'Not Found' });
  await Promise.all([main.AccessToken, main.RefreshToken].map((model) => model.revokeByGrantId(found.grantId)));
  await main.Grant.adapter.destroy(found.grantId);
  res.writeHead(204);
  return res.end();
}

const GRANT_PATH = /^\/api\/applications\/([^/]+)\/grant$/;

createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/__test/rotate-keys') {
    // The memory adapter is module-wide, so the new instance keeps every session, grant and token.
    keys = [newKey(), ...keys];
    main = provider(issuers[0]);
    mainHandler = main.callback();
    return json(res, 200, { kid: keys[0].kid });
  }
  if (req.method === 'GET' && (req.url === '/api/user' || req.url === '/api/user/emails')) {
    return githubApi(req, res).catch((err) => json(res, 500, { message: String(err) }));
  }
  const grant = req.method === 'DELETE' && GRANT_PATH.exec(req.url);
  if (grant) {
    return githubRevokeGrant(req, res, decodeURIComponent(grant[1])).catch((err) => json(res, 500, { message: String(err) }));
  }
  return mainHandler(req, res);
}).listen(config.ports[0], config.host);

createServer(other.callback()).listen(config.ports[1], config.host, () => {
  process.stdout.write(`ready ${issuers.join(' ')}\n`);
});
