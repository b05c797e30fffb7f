// The official supabase-js driving sb-cookie-proxy (in front of
// supabase-stub) the way a same-origin browser app does: the client's fetch
// goes through a cookie jar; the client never holds a real Supabase token.

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  findIssuedTokens,
  freshEmail,
  isRefreshGrant,
  jwtClaims,
  memoryStorage,
  newApp as newAppOn,
  startEnv,
} from './harness.js';

const PASSWORD = 'correct-horse-battery-9';
const COOKIE = 'sb-session';

let env;
/** Every browser of the file, for the leak check at the end. */
const browsers = [];

before(async () => {
  env = await startEnv();
});

after(async () => {
  await env?.stop();
});

/** Fails if any exchange or storage of `list` holds a token the stub of `on` issued. */
async function assertNoIssuedToken(list, on = env) {
  const issued = await on.stub.issuedTokens();
  assert.ok(issued.length > 0, 'the stub issued no token');
  const { exchanges, leaks } = findIssuedTokens(issued, list);
  assert.deepEqual(leaks, [], 'issued tokens reached the client');
  return exchanges;
}

// Each test also checks its own browsers for leaked tokens.
let checkedUpTo = 0;
async function checkNewBrowsers() {
  const mine = browsers.slice(checkedUpTo);
  checkedUpTo = browsers.length;
  if (env && mine.length > 0) await assertNoIssuedToken(mine);
}

/** A new "tab" of the app, checked for leaks after its test. */
function newApp() {
  const app = newAppOn(env);
  browsers.push(app);
  return app;
}

/** Signs a fresh user up in its own browser; returns the email. */
async function existingUser(label) {
  const email = freshEmail(label);
  const { client } = newApp();
  const { data, error } = await client.auth.signUp({ email, password: PASSWORD });
  assert.equal(error, null, `sign-up of ${email} failed: ${error?.message}`);
  assert.ok(data.user);
  await client.auth.signOut({ scope: 'local' });
  return email;
}

/** A new app signed in with password as a fresh user. */
async function signedIn(label) {
  const email = await existingUser(label);
  const app = newApp();
  const { data, error } = await app.client.auth.signInWithPassword({ email, password: PASSWORD });
  assert.equal(error, null, `sign-in failed: ${error?.message}`);
  assert.ok(data.session, 'sign-in gave no session');
  return { ...app, email, user: data.user, session: data.session };
}

async function sessionCookie(browser) {
  return (await browser.cookies()).find((c) => c.key === COOKIE);
}

describe('supabase-js through the cookie proxy', () => {
  afterEach(checkNewBrowsers);

  test('signUp (autoconfirm) gives a session, an HttpOnly cookie and /edge/v1/session', async () => {
    const { browser, client } = newApp();
    const email = freshEmail('signup');

    const { data, error } = await client.auth.signUp({ email, password: PASSWORD });
    assert.equal(error, null);
    assert.ok(data.user, 'no user');
    assert.ok(data.session, 'no session');
    assert.equal(data.user.email, email);
    assert.equal(data.session.user.id, data.user.id);

    const cookie = await sessionCookie(browser);
    assert.ok(cookie, `no ${COOKIE} cookie in the jar`);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'lax');
    assert.equal(cookie.path, '/');
    assert.deepEqual(browser.cookieErrors, []);

    const setting = browser.exchanges.find((x) => x.setCookies.some((c) => c.startsWith(`${COOKIE}=`)));
    assert.match(
      Object.fromEntries(setting.headers)['cache-control'] ?? '',
      /no-store/,
      'a response setting the session cookie must carry Cache-Control: no-store',
    );

    const me = await browser.get('/edge/v1/session');
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.user.email, email);
    assert.equal(me.json.user.id, data.user.id);
    assert.ok(me.json.id, 'session has no public id');
    assert.ok(me.json.created_at, 'session has no created_at');
    assert.ok(me.json.expires_at, 'session has no expires_at');
    assert.notEqual(me.json.id, cookie.value, 'the public id must not be the cookie value');
    for (const field of ['access_token', 'refresh_token', 'provider_token']) {
      assert.equal(field in me.json, false, `/edge/v1/session shows ${field}`);
    }
  });

  test('signInWithPassword returns a session whose tokens are placeholders', async () => {
    const email = await existingUser('signin');
    const { browser, client } = newApp();

    const { data, error } = await client.auth.signInWithPassword({ email, password: PASSWORD });
    assert.equal(error, null);
    assert.ok(data.session, 'no session');
    assert.equal(data.user.email, email);
    assert.ok(await sessionCookie(browser), 'no session cookie after sign-in');

    const issued = await env.stub.issuedTokens();
    assert.ok(issued.length > 0, 'the stub issued no token at all');
    assert.equal(issued.includes(data.session.access_token), false, 'client holds a real access token');
    assert.equal(issued.includes(data.session.refresh_token), false, 'client holds a real refresh token');
    assert.equal(jwtClaims(data.session.access_token).sub, data.user.id);

    const { data: got } = await client.auth.getSession();
    assert.equal(got.session?.user.email, email);
  });

  test('from(todos).select() runs as the user when signed in and as anon after sign-out', async () => {
    const { client, user } = await signedIn('rest');

    const signedInRows = await client.from('todos').select();
    assert.equal(signedInRows.error, null);
    assert.ok(signedInRows.data.length > 0);
    for (const row of signedInRows.data) assert.equal(row.user_id, user.id);

    // The stub saw a real, issued token on that request (not the placeholder).
    const issued = new Set(await env.stub.issuedTokens());
    const rest = (await env.stub.recorded()).filter((r) => r.method === 'GET' && r.path === '/rest/v1/todos');
    const lastAuth = rest.at(-1)?.headers.authorization ?? '';
    assert.ok(issued.has(lastAuth.replace(/^Bearer /, '')), 'upstream REST call did not carry an issued token');

    const { error } = await client.auth.signOut();
    assert.equal(error, null);
    const anonRows = await client.from('todos').select();
    assert.equal(anonRows.error, null);
    assert.ok(anonRows.data.length > 0);
    for (const row of anonRows.data) assert.equal(row.user_id, null);

    // A browser that never signed in is anon too.
    const stranger = newApp();
    const strangerRows = await stranger.client.from('todos').select();
    assert.equal(strangerRows.error, null);
    for (const row of strangerRows.data) assert.equal(row.user_id, null);
  });

  test('refreshSession() is answered by the proxy: no refresh grant reaches Auth', async () => {
    const { client, user, session } = await signedIn('refresh');
    const grantsBefore = (await env.stub.recorded()).filter(isRefreshGrant).length;

    const { data, error } = await client.auth.refreshSession();
    assert.equal(error, null);
    assert.ok(data.session, 'no session after refresh');
    assert.equal(data.user.id, user.id);
    assert.notEqual(data.session.refresh_token, session.refresh_token, 'refresh token was not rotated');
    const issued = await env.stub.issuedTokens();
    assert.equal(issued.includes(data.session.access_token), false);
    assert.equal(issued.includes(data.session.refresh_token), false);

    const grantsAfter = (await env.stub.recorded()).filter(isRefreshGrant).length;
    assert.equal(grantsAfter, grantsBefore, 'the refresh reached the stub');

    // Still signed in for real.
    const rows = await client.from('todos').select();
    assert.equal(rows.error, null);
    for (const row of rows.data) assert.equal(row.user_id, user.id);
  });

  test('getUser() returns the signed-in user', async () => {
    const { client, user, email } = await signedIn('getuser');
    const { data, error } = await client.auth.getUser();
    assert.equal(error, null);
    assert.equal(data.user.id, user.id);
    assert.equal(data.user.email, email);
  });

  test('getClaims() accepts the placeholder access token', async () => {
    const { client, user } = await signedIn('claims');
    const { data, error } = await client.auth.getClaims();
    assert.equal(error, null, error?.message);
    assert.equal(data.claims.sub, user.id);
  });

  test('the placeholder access token is worthless without the cookie', async () => {
    const { session, user } = await signedIn('stolen');
    const thief = env.newBrowser();
    browsers.push({ browser: thief, storage: memoryStorage() });
    const res = await thief.fetch(new URL('/rest/v1/todos?select=*', env.publicUrl), {
      headers: { apikey: env.anonKey, authorization: `Bearer ${session.access_token}` },
    });
    assert.equal(res.status, 200);
    const rows = await res.json();
    assert.ok(rows.length > 0);
    for (const row of rows) assert.notEqual(row.user_id, user.id);
    for (const row of rows) assert.equal(row.user_id, null);
  });

  test('signOut() clears the cookie, the proxy session and the client session', async () => {
    const { browser, storage, client } = await signedIn('signout');
    assert.ok(await sessionCookie(browser));
    assert.equal((await browser.get('/edge/v1/session')).status, 200);

    const { error } = await client.auth.signOut();
    assert.equal(error, null);

    assert.equal(await sessionCookie(browser), undefined, 'session cookie still in the jar');
    const me = await browser.get('/edge/v1/session');
    assert.equal(me.status, 401, me.text);
    const { data } = await client.auth.getSession();
    assert.equal(data.session, null);
    assert.equal(storage.map.size, 0, `storage still holds ${[...storage.map.keys()]}`);
    assert.deepEqual(browser.cookieErrors, []);

    // Calls needing a user now get Auth's own error shapes.
    const user = await client.auth.getUser();
    assert.ok(user.error, 'getUser() without a session should fail');
    assert.equal(user.data.user, null);
  });

  test('no response the client received, nor its storage, contains a token the stub issued', async () => {
    const exchanges = await assertNoIssuedToken(browsers);
    assert.ok(exchanges > 0 || browsers.length === 0);
  });
});

describe('an app served under a base path (PROXY_PUBLIC_URL=http://app.localhost/supabase)', () => {
  let based;
  before(async () => {
    based = await startEnv({ publicUrl: 'http://app.localhost/supabase' });
  });
  after(async () => {
    await based?.stop();
  });

  test('sign-up, a query as the user, /edge/v1/session and sign-out all work under the path', async () => {
    const app = newAppOn(based);
    const { browser, client } = app;
    const email = freshEmail('based');
    const { data, error } = await client.auth.signUp({ email, password: PASSWORD });
    assert.equal(error, null);
    assert.ok(data.session);
    assert.ok(browser.exchanges.every((x) => new URL(x.url).pathname.startsWith('/supabase/')));
    assert.ok((await browser.cookies()).some((c) => c.key === COOKIE));

    const rows = await client.from('todos').select();
    assert.equal(rows.error, null);
    for (const row of rows.data) assert.equal(row.user_id, data.user.id);

    const me = await browser.get('/supabase/edge/v1/session');
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.user.email, email);

    assert.equal((await client.auth.signOut()).error, null);
    assert.equal((await browser.get('/supabase/edge/v1/session')).status, 401);

    await assertNoIssuedToken([app], based);
  });
});

// The central promise: behind an edge that encodes JSON whenever the
// request allows it (as the CDN in front of hosted Supabase does, and Node's
// fetch asks for gzip), a sign-in still becomes a cookie session. This env's
// stub always compresses, so the test holds whether or not the suite runs
// with SBP_STUB_COMPRESS=1.
describe('behind a compressing CDN (supabase-stub --compress)', () => {
  let cdn;
  before(async () => {
    cdn = await startEnv({ stubArgs: ['--compress'] });
  });
  after(async () => {
    await cdn?.stop();
  });

  test('signUp and signInWithPassword give a working cookie session and never an issued token', async () => {
    // The edge really encodes the JSON answers of a request like the client's.
    const direct = await fetch(new URL('/auth/v1/settings', cdn.stubUrl), { headers: { apikey: cdn.anonKey } });
    assert.equal(direct.status, 200);
    assert.match(direct.headers.get('content-encoding') ?? '', /^(gzip|br)$/, 'the stub did not compress');

    const email = freshEmail('cdn');
    const first = newAppOn(cdn);
    const signUp = await first.client.auth.signUp({ email, password: PASSWORD });
    assert.equal(signUp.error, null, signUp.error?.message);
    assert.ok(signUp.data.session, 'sign-up gave no session');
    assert.ok(await sessionCookie(first.browser), 'no session cookie after sign-up');
    await first.client.auth.signOut({ scope: 'local' });

    const app = newAppOn(cdn);
    const { browser, client } = app;
    const { data, error } = await client.auth.signInWithPassword({ email, password: PASSWORD });
    assert.equal(error, null, error?.message);
    assert.ok(data.session, 'sign-in gave no session');
    assert.equal(data.user.email, email);
    assert.equal(jwtClaims(data.session.access_token).sub, data.user.id);

    // Only the proxy's cookie: none of Auth's legacy token cookies.
    assert.deepEqual(
      (await browser.cookies()).map((c) => c.key),
      [COOKIE],
      'the jar holds other cookies than the session cookie',
    );
    const me = await browser.get('/edge/v1/session');
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.user.id, data.user.id);
    assert.equal(me.json.user.email, email);

    // Queries run as the user, and their answers kept the CDN's encoding.
    const rows = await client.from('todos').select();
    assert.equal(rows.error, null);
    assert.ok(rows.data.length > 0);
    for (const row of rows.data) assert.equal(row.user_id, data.user.id);
    const rest = browser.exchanges.findLast((x) => new URL(x.url).pathname === '/rest/v1/todos');
    assert.match(
      Object.fromEntries(rest.headers)['content-encoding'] ?? '',
      /^(gzip|br)$/,
      'a REST answer reached the client unencoded: the edge did not compress this run',
    );

    await assertNoIssuedToken([first, app], cdn);
  });
});
