// Every way of signing in with supabase-js, through the cookie proxy, ends in
// a cookie session: OAuth with client-side PKCE, OTP by email and by phone,
// a magic link with PKCE, an ID token, anonymous sign-in, and an anonymous
// user turned permanent (email change, linked identity) in the session it
// already has. The mails and texts a project would send are read from the
// stand-in's outbox (`GET /__stub/messages`). Each test also checks that no
// token the stand-in issued reached the client (responses, storage).

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { findIssuedTokens, freshEmail, jwtClaims, newApp, startEnv } from './harness.js';

const COOKIE = 'sb-session';
const APP_PAGE = '/welcome';

let env;
/** An env whose stand-in needs confirmations (`--no-autoconfirm`). */
let confirming;
/** Every app of the file with the env serving it, checked for leaks after each test. */
const apps = [];
let checkedUpTo = 0;

before(async () => {
  [env, confirming] = await Promise.all([startEnv(), startEnv({ stubArgs: ['--no-autoconfirm'] })]);
});

after(async () => {
  await Promise.all([env?.stop(), confirming?.stop()]);
});

afterEach(async () => {
  const mine = apps.slice(checkedUpTo);
  checkedUpTo = apps.length;
  for (const on of new Set(mine.map((a) => a.on))) {
    const issued = await on.stub.issuedTokens();
    assert.ok(issued.length > 0, 'the stub issued no token');
    const { exchanges, leaks } = findIssuedTokens(
      issued,
      mine.filter((a) => a.on === on),
    );
    assert.ok(exchanges > 0, 'no exchange was checked');
    assert.deepEqual(leaks, [], 'issued tokens reached the client');
  }
});

/** A new tab of the app on `on` (a `pkce` client with `{ flowType: 'pkce' }`), checked for leaks after its test. */
function tab(on, auth = {}) {
  const app = { ...newApp(on, auth), on };
  apps.push(app);
  return app;
}

/** The mails and texts the stand-in of `on` sent to `to`, oldest first. */
async function messages(on, to) {
  const res = await fetch(new URL(`/__stub/messages?to=${encodeURIComponent(to)}`, on.stubUrl));
  assert.equal(res.status, 200);
  return res.json();
}

/** The last message sent to `to`, which must be of `type`. */
async function lastMessage(on, to, type) {
  const sent = await messages(on, to);
  assert.ok(sent.length > 0, `nothing was sent to ${to}`);
  const message = sent.at(-1);
  assert.equal(message.type, type, `the last message to ${to}`);
  return message;
}

/**
 * Follows `url` in the tab's browser, as a click or `location.assign` does,
 * and returns the app URL (under `publicUrl` + APP_PAGE) it was redirected to.
 */
async function followToApp(app, url) {
  const page = new URL(APP_PAGE, app.on.publicUrl).href;
  const start = app.browser.exchanges.length;
  await app.browser.fetch(url);
  const hops = app.browser.exchanges.slice(start);
  const landing = hops
    .map((x) => Object.fromEntries(x.headers).location)
    .filter(Boolean)
    .map((location, i) => new URL(location, hops[i].url))
    .find((u) => u.href.startsWith(page));
  assert.ok(landing, `${url} did not lead to ${page}: ${hops.map((x) => `${x.status} ${x.url}`).join(', ')}`);
  return landing;
}

/** Fails if an app URL carries a token in its query or its fragment. */
function assertNoToken(landing) {
  for (const field of ['access_token', 'refresh_token']) {
    assert.equal(landing.searchParams.has(field), false, `${landing} has ${field}`);
    assert.equal(new URLSearchParams(landing.hash.slice(1)).has(field), false, `${landing} has ${field}`);
  }
}

/** The `?code=` of an app URL, after checking it carries no token. */
function codeOf(landing) {
  assertNoToken(landing);
  assert.equal(landing.searchParams.has('error'), false, `${landing} has an error`);
  assert.equal(landing.hash, '', `${landing} has a fragment`);
  const code = landing.searchParams.get('code');
  assert.ok(code, `${landing} has no code`);
  return code;
}

async function sessionCookie(browser) {
  return (await browser.cookies()).find((c) => c.key === COOKIE);
}

/**
 * `data` (a sign-in's answer) is a cookie session of its user: an HttpOnly
 * cookie, `/edge/v1/session` shows the user, the client holds only
 * placeholders, and `from('todos').select()` runs as the user.
 * Returns the proxy session (`/edge/v1/session`).
 */
async function assertCookieSession(app, data, expected = {}) {
  const { browser, client, on } = app;
  assert.ok(data.session, 'the sign-in gave no session');
  assert.ok(data.user, 'the sign-in gave no user');
  for (const [field, value] of Object.entries(expected)) assert.equal(data.user[field], value, `user.${field}`);

  const cookie = await sessionCookie(browser);
  assert.ok(cookie, `no ${COOKIE} cookie in the jar`);
  assert.equal(cookie.httpOnly, true);
  assert.deepEqual(browser.cookieErrors, []);

  const me = await browser.get('/edge/v1/session');
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.user.id, data.user.id);
  for (const [field, value] of Object.entries(expected)) assert.equal(me.json.user[field], value, `session user.${field}`);

  const issued = await on.stub.issuedTokens();
  const { data: got } = await client.auth.getSession();
  assert.ok(got.session, 'the client holds no session');
  assert.equal(issued.includes(got.session.access_token), false, 'the client holds a real access token');
  assert.equal(issued.includes(got.session.refresh_token), false, 'the client holds a real refresh token');
  assert.equal(jwtClaims(got.session.access_token).sub, data.user.id);

  const rows = await client.from('todos').select();
  assert.equal(rows.error, null);
  assert.ok(rows.data.length > 0);
  for (const row of rows.data) assert.equal(row.user_id, data.user.id);
  return me.json;
}

/** The browser's proxy sessions (`/edge/v1/sessions`). */
async function proxySessions(browser) {
  const list = await browser.get('/edge/v1/sessions');
  assert.equal(list.status, 200, list.text);
  return list.json;
}

let phones = 0;
function freshPhone() {
  phones += 1;
  return `1555${String(process.pid % 1000).padStart(3, '0')}${String(Date.now() % 100000).padStart(5, '0')}${phones}`;
}

describe('OAuth with client-side PKCE (flowType: pkce)', () => {
  test('signInWithOAuth, the provider round trip, then exchangeCodeForSession gives a cookie session', async () => {
    const app = tab(env, { flowType: 'pkce' });
    const redirectTo = new URL(APP_PAGE, env.publicUrl).href;
    const { data, error } = await app.client.auth.signInWithOAuth({
      provider: 'github',
      options: { redirectTo, skipBrowserRedirect: true },
    });
    assert.equal(error, null, error?.message);
    const authorize = new URL(data.url);
    assert.equal(authorize.origin + authorize.pathname, `${env.publicUrl}/auth/v1/authorize`);
    assert.equal(authorize.searchParams.get('provider'), 'github');
    assert.equal(authorize.searchParams.get('code_challenge_method'), 's256');
    assert.ok(authorize.searchParams.get('code_challenge'));
    const verifiers = [...app.storage.map].filter(([k]) => k.endsWith('-code-verifier'));
    assert.ok(verifiers.length > 0, 'the client keeps its code verifier in its storage');

    const code = codeOf(await followToApp(app, data.url));
    assert.equal(await sessionCookie(app.browser), undefined, 'no session before the exchange');
    const exchanged = await app.client.auth.exchangeCodeForSession(code);
    assert.equal(exchanged.error, null, exchanged.error?.message);
    await assertCookieSession(app, exchanged.data, { email: 'github-user@example.com' });
    assert.equal(exchanged.data.session.provider_token ?? null, null, 'a provider token reached the client');

    // The code is spent: a second exchange (a replay, with the verifier) makes no session.
    const replay = tab(env, { flowType: 'pkce' });
    for (const [k, v] of verifiers) replay.storage.setItem(k, v);
    const again = await replay.client.auth.exchangeCodeForSession(code);
    assert.ok(again.error, 'a spent code was exchanged again');
    assert.equal(await sessionCookie(replay.browser), undefined);
  });
});

describe('one-time passwords', () => {
  test('signInWithOtp by email, then verifyOtp with the mailed code (type email)', async () => {
    const app = tab(env);
    const email = freshEmail('otp-email');
    const sent = await app.client.auth.signInWithOtp({ email });
    assert.equal(sent.error, null, sent.error?.message);
    assert.equal(await sessionCookie(app.browser), undefined, 'no session before the code');
    const mail = await lastMessage(env, email, 'magiclink');

    const wrong = await app.client.auth.verifyOtp({ email, token: '000000', type: 'email' });
    assert.ok(wrong.error, 'a wrong code was accepted');
    assert.equal(await sessionCookie(app.browser), undefined);

    const { data, error } = await app.client.auth.verifyOtp({ email, token: mail.otp, type: 'email' });
    assert.equal(error, null, error?.message);
    await assertCookieSession(app, data, { email });
  });

  test('signInWithOtp by phone, then verifyOtp with the texted code (type sms)', async () => {
    const app = tab(env);
    const phone = freshPhone();
    const sent = await app.client.auth.signInWithOtp({ phone });
    assert.equal(sent.error, null, sent.error?.message);
    const text = await lastMessage(env, phone, 'sms');
    assert.equal(text.link, null, 'a text carries no link');

    const { data, error } = await app.client.auth.verifyOtp({ phone, token: text.otp, type: 'sms' });
    assert.equal(error, null, error?.message);
    await assertCookieSession(app, data, { phone });
  });
});

describe('magic link with PKCE', () => {
  test("signInWithOtp on a pkce client, the mail's link, then exchangeCodeForSession", async () => {
    const app = tab(env, { flowType: 'pkce' });
    const email = freshEmail('magic');
    const emailRedirectTo = new URL(APP_PAGE, env.publicUrl).href;
    const sent = await app.client.auth.signInWithOtp({ email, options: { emailRedirectTo } });
    assert.equal(sent.error, null, sent.error?.message);
    const mail = await lastMessage(env, email, 'magiclink');
    assert.match(mail.link, /[?&]token=pkce_/, 'a PKCE flow mails a pkce_ link');

    const code = codeOf(await followToApp(app, mail.link));
    const { data, error } = await app.client.auth.exchangeCodeForSession(code);
    assert.equal(error, null, error?.message);
    await assertCookieSession(app, data, { email });
  });
});

describe('ID token', () => {
  test('signInWithIdToken({ provider, token }) gives a cookie session', async () => {
    const app = tab(env);
    const email = freshEmail('idtoken');
    const { data, error } = await app.client.auth.signInWithIdToken({ provider: 'google', token: `stub:${email}` });
    assert.equal(error, null, error?.message);
    await assertCookieSession(app, data, { email });
    assert.ok(data.user.app_metadata.providers.includes('google'));
  });
});

describe('anonymous sign-in', () => {
  test('signInAnonymously gives a cookie session of an anonymous user', async () => {
    const app = tab(env);
    const { data, error } = await app.client.auth.signInAnonymously();
    assert.equal(error, null, error?.message);
    await assertCookieSession(app, data, { is_anonymous: true });
    assert.equal(jwtClaims(data.session.access_token).is_anonymous, true);
  });
});

describe('an anonymous user turned permanent keeps its session', () => {
  /** A tab signed in anonymously: its cookie and proxy session. */
  async function anonymous(on, auth) {
    const app = tab(on, auth);
    const { data, error } = await app.client.auth.signInAnonymously();
    assert.equal(error, null, error?.message);
    const proxySession = await assertCookieSession(app, data, { is_anonymous: true });
    return { ...app, user: data.user, cookie: await sessionCookie(app.browser), proxySession };
  }

  /** The tab still has the cookie and proxy session it had as an anonymous user, and only that one. */
  async function assertSameSession(app) {
    const cookie = await sessionCookie(app.browser);
    assert.equal(cookie?.value, app.cookie.value, 'the cookie changed');
    const me = await app.browser.get('/edge/v1/session');
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.id, app.proxySession.id, "the proxy session's public id changed");
    assert.deepEqual(
      (await proxySessions(app.browser)).map((s) => s.id),
      [app.proxySession.id],
      'the session was duplicated',
    );
    return me.json;
  }

  test('updateUser({ email }) with autoconfirm: the address applies at once', async () => {
    const app = await anonymous(env);
    const email = freshEmail('anon-upgrade');
    const updated = await app.client.auth.updateUser({ email });
    assert.equal(updated.error, null, updated.error?.message);
    assert.equal(updated.data.user.email, email);
    assert.deepEqual(await messages(env, email), [], 'GoTrue sends no mail for this change');

    await assertSameSession(app);
    const { data } = await app.client.auth.getUser();
    assert.equal(data.user.id, app.user.id);
    assert.equal(data.user.email, email);
    assert.equal(data.user.is_anonymous, false);
    const rows = await app.client.from('todos').select();
    for (const row of rows.data) assert.equal(row.user_id, app.user.id);
  });

  test('updateUser({ email }) with autoconfirm: /edge/v1/session shows the new email', async () => {
    const app = await anonymous(env);
    const email = freshEmail('anon-cached');
    const updated = await app.client.auth.updateUser({ email });
    assert.equal(updated.error, null, updated.error?.message);
    const me = await assertSameSession(app);
    assert.equal(me.user.email, email);
    assert.equal(me.user.is_anonymous, false);
  });

  test('updateUser({ email }) needing confirmation, then verifyOtp type email_change', async () => {
    const app = await anonymous(confirming);
    const email = freshEmail('anon-confirm');
    const updated = await app.client.auth.updateUser({ email });
    assert.equal(updated.error, null, updated.error?.message);
    assert.equal(updated.data.user.email ?? '', '', 'the address applies only once confirmed');
    assert.equal(updated.data.user.new_email, email);
    await lastMessage(confirming, email, 'email_change');
    const resent = await app.client.auth.resend({ type: 'email_change', email });
    assert.equal(resent.error, null, resent.error?.message);
    assert.equal((await messages(confirming, email)).length, 2, 'resend sent the code again');
    const mail = await lastMessage(confirming, email, 'email_change');

    const { data, error } = await app.client.auth.verifyOtp({ email, token: mail.otp, type: 'email_change' });
    assert.equal(error, null, error?.message);
    assert.equal(data.user.id, app.user.id);
    await assertCookieSession(app, data, { email, is_anonymous: false });
    const me = await assertSameSession(app);
    assert.equal(me.user.email, email);

    const got = await app.client.auth.getUser();
    assert.equal(got.data.user.email, email);
    assert.equal(got.data.user.is_anonymous, false);
  });

  test('updateUser({ phone }) needing confirmation, then verifyOtp type phone_change', async () => {
    const app = await anonymous(confirming);
    const phone = freshPhone();
    const updated = await app.client.auth.updateUser({ phone });
    assert.equal(updated.error, null, updated.error?.message);
    assert.equal(updated.data.user.phone ?? '', '', 'the number applies only once confirmed');
    assert.equal(updated.data.user.new_phone, phone);
    const text = await lastMessage(confirming, phone, 'phone_change');

    const wrongType = await app.client.auth.verifyOtp({ phone, token: text.otp, type: 'sms' });
    assert.ok(wrongType.error, 'a phone change was confirmed as a sign-in code');

    const { data, error } = await app.client.auth.verifyOtp({ phone, token: text.otp, type: 'phone_change' });
    assert.equal(error, null, error?.message);
    assert.equal(data.user.id, app.user.id);
    await assertCookieSession(app, data, { phone, is_anonymous: false });
    const me = await assertSameSession(app);
    assert.equal(me.user.phone, phone);
  });

  test('linkIdentity({ provider }) on a pkce client, the provider round trip, then exchangeCodeForSession', async () => {
    const app = await anonymous(env, { flowType: 'pkce' });
    const account = freshEmail('linked');
    const { data, error } = await app.client.auth.linkIdentity({
      provider: 'github',
      options: { redirectTo: new URL(APP_PAGE, env.publicUrl).href, queryParams: { login_hint: account } },
    });
    assert.equal(error, null, error?.message);
    assert.ok(data.url, 'linkIdentity gave no URL');

    const code = codeOf(await followToApp(app, data.url));
    const exchanged = await app.client.auth.exchangeCodeForSession(code);
    assert.equal(exchanged.error, null, exchanged.error?.message);
    assert.equal(exchanged.data.user.id, app.user.id);
    await assertCookieSession(app, exchanged.data, { email: account, is_anonymous: false });
    await assertSameSession(app);

    const got = await app.client.auth.getUser();
    assert.equal(got.error, null);
    assert.equal(got.data.user.id, app.user.id);
    assert.equal(got.data.user.email, account);
    assert.equal(got.data.user.is_anonymous, false);
    assert.ok(
      got.data.user.identities.some((i) => i.provider === 'github' && i.identity_data.email === account),
      'the github identity is not linked',
    );
  });
  test('linkIdentity of a provider account another user has: an error back at the app, the session stays anonymous', async () => {
    const account = freshEmail('taken');
    const first = await anonymous(env, { flowType: 'pkce' });
    const redirectTo = new URL(APP_PAGE, env.publicUrl).href;
    const linked = await first.client.auth.linkIdentity({
      provider: 'github',
      options: { redirectTo, queryParams: { login_hint: account } },
    });
    const code = codeOf(await followToApp(first, linked.data.url));
    assert.equal((await first.client.auth.exchangeCodeForSession(code)).error, null);

    const second = await anonymous(env, { flowType: 'pkce' });
    const { data, error } = await second.client.auth.linkIdentity({
      provider: 'github',
      options: { redirectTo, queryParams: { login_hint: account } },
    });
    assert.equal(error, null, error?.message);
    const landing = await followToApp(second, data.url);
    assertNoToken(landing);
    assert.equal(landing.searchParams.has('code'), false);
    assert.equal(landing.searchParams.get('error_code'), 'identity_already_exists');
    const me = await assertSameSession(second);
    assert.equal(me.user.is_anonymous, true);
    const got = await second.client.auth.getUser();
    assert.equal(got.data.user.is_anonymous, true);
    assert.equal(got.data.user.identities.some((i) => i.provider === 'github'), false);
  });
});
