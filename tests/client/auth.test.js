// The official supabase-js driving sb-cookie-proxy (in front of
// supabase-stub) the way a same-origin browser app does: the client's fetch
// goes through a cookie jar; the client never holds a real Supabase token.

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';
import { freshEmail, memoryStorage, startEnv } from './harness.js';

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

/** Fails if any exchange or storage of `list` holds a token the stub issued. */
async function assertNoIssuedToken(list) {
  const issued = (await env.stub.issuedTokens()).filter((t) => typeof t === 'string' && t.length >= 8);
  assert.ok(issued.length > 0, 'the stub issued no token');
  let exchanges = 0;
  for (const { browser, storage } of list) {
    for (const x of browser.exchanges) {
      exchanges += 1;
      const seen = [x.body, ...x.headers.map(([k, v]) => `${k}: ${v}`)].join('\n');
      for (const token of issued) {
        assert.equal(seen.includes(token), false, `${x.method} ${x.url} (${x.status}) exposed an issued token`);
      }
    }
    const stored = [...storage.map.values()].join('\n');
    for (const token of issued) {
      assert.equal(stored.includes(token), false, 'client storage holds an issued token');
    }
  }
  return exchanges;
}

// Each test also checks its own browsers for leaked tokens.
let checkedUpTo = 0;
async function checkNewBrowsers() {
  const mine = browsers.slice(checkedUpTo);
  checkedUpTo = browsers.length;
  if (env && mine.length > 0) await assertNoIssuedToken(mine);
}

/** A new "tab": its own jar, storage and client, created as an app would. */
function newApp() {
  const browser = env.newBrowser();
  const storage = memoryStorage();
  const client = createClient(env.publicUrl, env.anonKey, {
    global: { fetch: browser.fetch },
    auth: {
      autoRefreshToken: false,
      persistSession: true,
      storage,
      detectSessionInUrl: false,
    },
    realtime: { transport: browser.webSocketClass() },
  });
  browsers.push({ browser, storage });
  return { browser, storage, client };
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

function isRefreshGrant(r) {
  return (
    r.method === 'POST' &&
    r.path === '/auth/v1/token' &&
    new URLSearchParams(r.query ?? '').get('grant_type') === 'refresh_token'
  );
}

function jwtPayload(token) {
  const parts = token.split('.');
  assert.equal(parts.length, 3, 'access_token is not JWT-shaped');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
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
    assert.equal(jwtPayload(data.session.access_token).sub, data.user.id);

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
    const browser = based.newBrowser();
    const storage = memoryStorage();
    const client = createClient(based.publicUrl, based.anonKey, {
      global: { fetch: browser.fetch },
      auth: { autoRefreshToken: false, persistSession: true, storage, detectSessionInUrl: false },
      realtime: { transport: browser.webSocketClass() },
    });
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

    const issued = await based.stub.issuedTokens();
    for (const x of browser.exchanges) {
      const seen = [x.body, ...x.headers.map(([k, v]) => `${k}: ${v}`)].join('\n');
      for (const token of issued) assert.equal(seen.includes(token), false, `${x.method} ${x.url} exposed a token`);
    }
  });
});
