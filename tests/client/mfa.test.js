// MFA (TOTP) with supabase-js's `auth.mfa` API through the cookie proxy, as
// an app does: sign in with a password, enrol a factor, challenge and verify
// it with the code an authenticator app would show (the stub's
// `/__stub/totp`). The verification raises the *current* proxy session to
// aal2 in place: same cookie, same session, aal2 placeholders, aal2 tokens
// upstream, and no token Auth issued ever reaches the client.

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { findIssuedTokens, freshEmail, isRefreshGrant, jwtClaims, newApp, startEnv } from './harness.js';

const PASSWORD = 'correct-horse-battery-9';
const COOKIE = 'sb-session';
/** supabase-js refreshes a session this long before its `expires_at` (EXPIRY_MARGIN_MS). */
const CLIENT_REFRESH_MARGIN_MS = 90_000;

let env;
/** Every app of the file with the env serving it, checked for leaks after each test. */
const apps = [];
let checkedUpTo = 0;

before(async () => {
  env = await startEnv();
});

after(async () => {
  await env?.stop();
});

afterEach(async () => {
  const mine = apps.slice(checkedUpTo);
  checkedUpTo = apps.length;
  for (const on of new Set(mine.map((a) => a.on))) {
    const issued = await on.stub.issuedTokens();
    assert.ok(issued.length > 0, 'the stub issued no token');
    const { leaks } = findIssuedTokens(
      issued,
      mine.filter((a) => a.on === on),
    );
    assert.deepEqual(leaks, [], 'issued tokens reached the client');
  }
});

/** A new tab of the app on `on`, checked for leaks after its test. */
function tab(on) {
  const app = { ...newApp(on), on };
  apps.push(app);
  return app;
}

/** A new tab signed in with a password as a fresh user (signed up in another tab). */
async function signedIn(on, label) {
  const email = freshEmail(label);
  const first = tab(on);
  const signUp = await first.client.auth.signUp({ email, password: PASSWORD });
  assert.equal(signUp.error, null, `sign-up failed: ${signUp.error?.message}`);
  await first.client.auth.signOut({ scope: 'local' });

  const app = tab(on);
  const { data, error } = await app.client.auth.signInWithPassword({ email, password: PASSWORD });
  assert.equal(error, null, `sign-in failed: ${error?.message}`);
  assert.ok(data.session, 'sign-in gave no session');
  const me = await app.browser.get('/edge/v1/session');
  assert.equal(me.status, 200, me.text);
  return { ...app, email, user: data.user, sessionId: me.json.id, cookie: await cookieValue(app) };
}

async function cookieValue(app) {
  const cookie = (await app.browser.cookies()).find((c) => c.key === COOKIE);
  assert.ok(cookie, `no ${COOKIE} cookie in the jar`);
  return cookie.value;
}

async function enroll(app) {
  const { data, error } = await app.client.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'phone' });
  assert.equal(error, null, error?.message);
  assert.equal(data.type, 'totp');
  assert.ok(data.id, 'no factor id');
  assert.ok(data.totp?.secret, 'no TOTP secret');
  return data;
}

function methods(amr) {
  return (amr ?? []).map((entry) => entry.method);
}

/**
 * Runs a REST query as `app` and returns the claims of the upstream token
 * that reached the stub with it: a token the stub issued (never a
 * placeholder), whose claims the stub verified and echoed.
 */
async function upstreamClaims(app) {
  const { data, error } = await app.client.from('whoami').select();
  assert.equal(error, null, error?.message);
  const recorded = (await app.on.stub.recorded()).filter((r) => r.method === 'GET' && r.path === '/rest/v1/whoami');
  const bearer = (recorded.at(-1)?.headers.authorization ?? '').replace(/^Bearer /, '');
  assert.ok((await app.on.stub.issuedTokens()).includes(bearer), 'the REST call did not carry a token the stub issued');
  const claims = jwtClaims(bearer);
  assert.equal(data.claims?.session_id, claims.session_id, 'the stub echoed other claims than the recorded token');
  return { token: bearer, claims };
}

/** The session as the client and the proxy see it after a successful verification. */
async function assertRaisedInPlace(app, { factorId, upstreamSessionId }) {
  const aal = await app.client.auth.mfa.getAuthenticatorAssuranceLevel();
  assert.equal(aal.error, null, aal.error?.message);
  assert.equal(aal.data.currentLevel, 'aal2');
  assert.equal(aal.data.nextLevel, 'aal2');
  assert.ok(methods(aal.data.currentAuthenticationMethods).includes('totp'), 'no totp among the methods');

  const { data: got } = await app.client.auth.getSession();
  const placeholder = jwtClaims(got.session.access_token);
  assert.equal(placeholder.aal, 'aal2', 'the client session is not aal2');
  assert.ok(methods(placeholder.amr).includes('totp'), 'the client session has no totp amr entry');
  assert.equal(placeholder.sub, app.user.id);

  // The same proxy session, under the same cookie, and no second one.
  const me = await app.browser.get('/edge/v1/session');
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.id, app.sessionId, 'the verification made another session');
  assert.equal(me.json.user.id, app.user.id);
  assert.equal(await cookieValue(app), app.cookie, 'the cookie changed');
  const list = await app.browser.get('/edge/v1/sessions');
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(
    list.json.map((s) => [s.id, s.current]),
    [[app.sessionId, true]],
  );

  // Upstream, the same Auth session at aal2.
  const { claims } = await upstreamClaims(app);
  assert.equal(claims.aal, 'aal2', 'the upstream token is not aal2');
  assert.ok(methods(claims.amr).includes('totp'), 'the upstream token has no totp amr entry');
  assert.equal(claims.session_id, upstreamSessionId, 'the upstream token belongs to another Auth session');

  const factors = await app.client.auth.mfa.listFactors();
  assert.equal(factors.error, null, factors.error?.message);
  assert.deepEqual(
    factors.data.totp.map((f) => [f.id, f.status]),
    [[factorId, 'verified']],
  );
}

/** Signs in, notes the aal1 state, enrols a TOTP factor. */
async function signedInWithFactor(on, label) {
  const app = await signedIn(on, label);
  const aal = await app.client.auth.mfa.getAuthenticatorAssuranceLevel();
  assert.equal(aal.error, null, aal.error?.message);
  assert.equal(aal.data.currentLevel, 'aal1');
  const { claims } = await upstreamClaims(app);
  assert.equal(claims.aal, 'aal1');
  const factor = await enroll(app);
  return { app, factor, upstreamSessionId: claims.session_id };
}

/** A six-digit code that differs from `code` in every digit. */
function wrongCode(code) {
  return [...code].map((d) => String((Number(d) + 5) % 10)).join('');
}

describe('supabase-js auth.mfa (TOTP) through the cookie proxy', () => {
  test('enroll, challenge and verify raise the current cookie session to aal2 in place', async () => {
    const { app, factor, upstreamSessionId } = await signedInWithFactor(env, 'mfa');

    const challenge = await app.client.auth.mfa.challenge({ factorId: factor.id });
    assert.equal(challenge.error, null, challenge.error?.message);
    assert.ok(challenge.data.id, 'no challenge id');
    const code = await env.stub.totpCode(factor.totp.secret);
    const verified = await app.client.auth.mfa.verify({ factorId: factor.id, challengeId: challenge.data.id, code });
    assert.equal(verified.error, null, verified.error?.message);

    // The answer itself holds placeholders carrying aal2.
    const issued = await env.stub.issuedTokens();
    assert.equal(issued.includes(verified.data.access_token), false, 'verify handed out a real access token');
    assert.equal(issued.includes(verified.data.refresh_token), false, 'verify handed out a real refresh token');
    assert.equal(jwtClaims(verified.data.access_token).aal, 'aal2');

    await assertRaisedInPlace(app, { factorId: factor.id, upstreamSessionId });
  });

  test('challengeAndVerify raises the current cookie session to aal2 in place', async () => {
    const { app, factor, upstreamSessionId } = await signedInWithFactor(env, 'mfa-cv');

    const code = await env.stub.totpCode(factor.totp.secret);
    const verified = await app.client.auth.mfa.challengeAndVerify({ factorId: factor.id, code });
    assert.equal(verified.error, null, verified.error?.message);

    await assertRaisedInPlace(app, { factorId: factor.id, upstreamSessionId });
  });

  test('a wrong code is the client error and leaves the session at aal1; the right one then works', async () => {
    const { app, factor, upstreamSessionId } = await signedInWithFactor(env, 'mfa-wrong');
    const challenge = await app.client.auth.mfa.challenge({ factorId: factor.id });
    assert.equal(challenge.error, null, challenge.error?.message);

    const code = await env.stub.totpCode(factor.totp.secret);
    const refused = await app.client.auth.mfa.verify({
      factorId: factor.id,
      challengeId: challenge.data.id,
      code: wrongCode(code),
    });
    assert.equal(refused.data, null);
    assert.ok(refused.error, 'a wrong code was accepted');
    assert.equal(refused.error.name, 'AuthApiError');
    assert.equal(refused.error.status, 422);
    assert.equal(refused.error.message, 'Invalid TOTP code entered');
    // Auth's error code reached the client (supabase-js reads `error.code` from
    // it only when the answer echoes `X-Supabase-Api-Version`, which the stub
    // does not do yet).
    const answer = app.browser.exchanges.findLast((x) => x.url.endsWith(`/factors/${factor.id}/verify`));
    assert.equal(Object.fromEntries(answer.headers)['x-sb-error-code'], 'mfa_verification_failed');
    assert.equal(JSON.parse(answer.body).code, 'mfa_verification_failed');

    const aal = await app.client.auth.mfa.getAuthenticatorAssuranceLevel();
    assert.equal(aal.data.currentLevel, 'aal1');
    assert.equal(aal.data.nextLevel, 'aal1', 'the factor counts as verified');
    const { data: got } = await app.client.auth.getSession();
    assert.equal(jwtClaims(got.session.access_token).aal, 'aal1');
    const me = await app.browser.get('/edge/v1/session');
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.id, app.sessionId);
    assert.equal(await cookieValue(app), app.cookie);
    const { claims } = await upstreamClaims(app);
    assert.equal(claims.aal, 'aal1', 'a refused verification raised the upstream session');
    const factors = await app.client.auth.mfa.listFactors();
    assert.deepEqual(
      factors.data.all.map((f) => [f.id, f.status]),
      [[factor.id, 'unverified']],
    );

    const verified = await app.client.auth.mfa.verify({
      factorId: factor.id,
      challengeId: challenge.data.id,
      code: await env.stub.totpCode(factor.totp.secret),
    });
    assert.equal(verified.error, null, verified.error?.message);
    await assertRaisedInPlace(app, { factorId: factor.id, upstreamSessionId });
  });

  test("the client's own refresh near expiry keeps aal2 in the placeholder", async (t) => {
    const { app, factor, upstreamSessionId } = await signedInWithFactor(env, 'mfa-refresh');
    const code = await env.stub.totpCode(factor.totp.secret);
    assert.equal((await app.client.auth.mfa.challengeAndVerify({ factorId: factor.id, code })).error, null);
    const { data: before } = await app.client.auth.getSession();

    // The client's clock reaches its refresh margin before the placeholder's expiry.
    const realNow = Date.now;
    const skew = before.session.expires_at * 1000 - realNow() - CLIENT_REFRESH_MARGIN_MS + 30_000;
    t.mock.method(Date, 'now', () => realNow() + skew);
    const exchangesBefore = app.browser.exchanges.length;
    const { data: after, error } = await app.client.auth.getSession();
    t.mock.restoreAll();
    assert.equal(error, null, error?.message);

    const refreshes = app.browser.exchanges
      .slice(exchangesBefore)
      .filter((x) => x.method === 'POST' && x.url.includes('/auth/v1/token?grant_type=refresh_token'));
    assert.equal(refreshes.length, 1, 'the client did not refresh its session');
    assert.equal(refreshes[0].status, 200, refreshes[0].body);
    assert.notEqual(after.session.refresh_token, before.session.refresh_token, 'no new placeholder refresh token');
    const placeholder = jwtClaims(after.session.access_token);
    assert.equal(placeholder.aal, 'aal2', 'the refreshed placeholder lost aal2');
    assert.ok(methods(placeholder.amr).includes('totp'), 'the refreshed placeholder lost the totp amr entry');

    await assertRaisedInPlace(app, { factorId: factor.id, upstreamSessionId });
  });
});

// Upstream tokens that live 2 s: the proxy refreshes them with Auth during
// the test, and the refreshed ones must still be the aal2 session's.
describe('auth.mfa with short-lived upstream tokens (supabase-stub --token-ttl 2)', () => {
  let short;
  before(async () => {
    short = await startEnv({ stubArgs: ['--token-ttl', '2'] });
  });
  after(async () => {
    await short?.stop();
  });

  test("the proxy's refresh with Auth keeps the session at aal2", async () => {
    const { app, factor, upstreamSessionId } = await signedInWithFactor(short, 'mfa-upstream');
    const code = await short.stub.totpCode(factor.totp.secret);
    assert.equal((await app.client.auth.mfa.challengeAndVerify({ factorId: factor.id, code })).error, null);
    const first = await upstreamClaims(app);
    assert.equal(first.claims.aal, 'aal2');
    const grants = (await short.stub.recorded()).filter(isRefreshGrant).length;

    // Queries until one went upstream with a token the proxy got by a refresh
    // grant (the upstream token expires after 2 s; the stub has no clock to pause).
    let refreshed;
    const deadline = Date.now() + 15_000;
    while (!refreshed && Date.now() < deadline) {
      await delay(250);
      const now = await upstreamClaims(app);
      const grantsNow = (await short.stub.recorded()).filter(isRefreshGrant).length;
      if (now.token !== first.token && grantsNow > grants) refreshed = now;
    }
    assert.ok(refreshed, 'the proxy never refreshed the upstream token');
    assert.equal(refreshed.claims.aal, 'aal2', 'the refreshed upstream token lost aal2');
    assert.ok(methods(refreshed.claims.amr).includes('totp'));
    assert.equal(refreshed.claims.session_id, upstreamSessionId);

    const { data, error } = await app.client.auth.refreshSession();
    assert.equal(error, null, error?.message);
    assert.equal(jwtClaims(data.session.access_token).aal, 'aal2', 'the placeholder after the refresh lost aal2');
    await assertRaisedInPlace(app, { factorId: factor.id, upstreamSessionId });
  });
});
