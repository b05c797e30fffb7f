// lib/identity.ts on its own: tokens signed here with keys made here,
// against a JWKS served here. The module is TypeScript: it is transpiled
// (TypeScript's transpileModule, no type check) into .test-build/, inside
// the example so that `jose` resolves from its node_modules.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import ts from 'typescript';

const EXAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ISSUER = 'https://app.example.com';

let server;
let jwksRequests = 0;
let key;
let identity;

before(async () => {
  key = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(key.publicKey)), kid: 'identity-1', alg: 'ES256', use: 'sig' };
  server = http.createServer((req, res) => {
    if (req.url !== '/edge/v1/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    jwksRequests += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.env.PROXY_PUBLIC_URL = ISSUER;
  process.env.PROXY_INTERNAL_URL = `http://127.0.0.1:${server.address().port}`;

  const source = readFileSync(path.join(EXAMPLE, 'lib/identity.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const out = path.join(EXAMPLE, '.test-build');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'identity.mjs'), outputText);
  identity = await import(pathToFileURL(path.join(out, 'identity.mjs')).href);
});

after(() => server?.close());

const CLAIMS = {
  sub: 'user-1',
  email: 'a@example.com',
  phone: '',
  role: 'authenticated',
  aal: 'aal1',
  is_anonymous: false,
  app_metadata: { provider: 'email' },
  sid: 'proxy-session-1',
  session_id: 'auth-session-1',
};

/** A token like the proxy's, with the claims, key, issuer or times given. */
async function token({ claims = CLAIMS, kid = 'identity-1', signWith = key.privateKey, iat, exp = '60s', iss = ISSUER } = {}) {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).setIssuer(iss).setExpirationTime(exp);
  if (iat === undefined) jwt.setIssuedAt();
  else jwt.setIssuedAt(iat);
  return jwt.sign(signWith);
}

test("the proxy's identity verifies, from the header, with the JWKS fetched once", async () => {
  const before = jwksRequests;
  const headers = new Headers({ 'x-supabase-identity': await token() });
  const user = await identity.identityFrom(headers);
  assert.equal(user.sub, 'user-1');
  assert.equal(user.email, 'a@example.com');
  assert.equal(user.sid, 'proxy-session-1');
  assert.equal(user.session_id, 'auth-session-1');
  for (let i = 0; i < 5; i++) assert.equal((await identity.verifyIdentity(await token())).sub, 'user-1');
  assert.ok(jwksRequests - before <= 1, `JWKS fetched ${jwksRequests - before} times`);
  // The issuer written with its trailing slash is the same URL.
  assert.equal((await identity.verifyIdentity(await token({ iss: `${ISSUER}/` }))).sub, 'user-1');
});

test('no header, or one that is not the proxy’s, is nobody', async () => {
  assert.equal(await identity.identityFrom(new Headers()), null);
  assert.equal(await identity.verifyIdentity('not-a-jwt'), null);
  const stranger = await generateKeyPair('ES256');
  assert.equal(await identity.verifyIdentity(await token({ signWith: stranger.privateKey })), null, 'another key');
  assert.equal(await identity.verifyIdentity(await token({ iss: 'https://evil.example' })), null, 'another issuer');
  const hs = await new SignJWT(CLAIMS)
    .setProtectedHeader({ alg: 'HS256', kid: 'identity-1' })
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime('60s')
    .sign(new TextEncoder().encode('a shared secret of thirty-two bytes!'));
  assert.equal(await identity.verifyIdentity(hs), null, 'HS256');
  const { sid: _sid, ...withoutSid } = CLAIMS;
  assert.equal(await identity.verifyIdentity(await token({ claims: withoutSid })), null, 'no sid');
});

test('an expired identity, or one issued more than 60 s ago, is refused', async () => {
  const now = Math.floor(Date.now() / 1000);
  assert.equal(await identity.verifyIdentity(await token({ iat: now - 120, exp: now - 60 })), null, 'expired');
  assert.equal(await identity.verifyIdentity(await token({ iat: now - 90, exp: now + 600 })), null, 'too old');
  assert.equal((await identity.verifyIdentity(await token({ iat: now - 30, exp: now + 30 }))).sub, 'user-1');
});
