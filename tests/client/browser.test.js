// The redirect flows with no code in the app, in a real browser: headless
// Chromium (Debian's `chromium`, driven by playwright-core) opens
// /edge/v1/authorize and a /edge/v1/confirm email link, follows every
// redirect (through the stand-in Auth) to the app's page, and holds the
// session as an HttpOnly cookie that /edge/v1/session answers for.
//
// The page's origin is PROXY_PUBLIC_URL (http://app.localhost). Chromium
// reaches it through a small front proxy started here, as a deployment's
// front proxy would route it: the proxy's paths (/edge/v1, /auth/v1, ...)
// go to sb-cookie-proxy, every other path is the app, a tiny HTML page
// served by this file. Set CHROMIUM to use another browser binary.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startEnv } from './harness.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const PROXY_PATHS = /^\/(edge|auth|rest|storage|functions|graphql|realtime)\/v1(\/|$)/;

let env;
let front;
let browser;
let shots;

/** The front proxy: absolute-form requests from Chromium, routed by path. */
function startFront(proxyUrl) {
  const target = new URL(proxyUrl);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://app.localhost');
    if (!PROXY_PATHS.test(url.pathname)) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      // The app's page: its path, and who /edge/v1/session says is signed in.
      res.end(
        `<!doctype html><title>app</title><h1 id="page">${url.pathname}</h1><p id="who"></p>` +
          `<script>fetch('/edge/v1/session').then((r) => r.json())` +
          `.then((s) => { document.getElementById('who').textContent = s.user ? s.user.email : 'signed out'; });</script>`,
      );
      return;
    }
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: url.pathname + url.search,
        headers: { ...req.headers, host: url.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode, answer.rawHeaders);
        answer.pipe(res);
      },
    );
    upstream.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(upstream);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

before(async () => {
  env = await startEnv();
  front = await startFront(env.proxyUrl);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      `--proxy-server=http://127.0.0.1:${front.address().port}`,
      // *.localhost is loopback, which Chromium would not send to a proxy.
      '--proxy-bypass-list=<-loopback>',
      '--no-sandbox',
    ],
  });
  shots = mkdtempSync(path.join(os.tmpdir(), 'sbp-browser-'));
});

after(async () => {
  if (shots) process.stdout.write(`screenshots in ${shots}\n`);
  await browser?.close();
  front?.close();
  await env?.stop();
});

/** The page's session as the app reads it, and the cookies Chromium holds. */
async function sessionOf(context, page) {
  const session = await page.evaluate(async () => {
    const res = await fetch('/edge/v1/session');
    return { status: res.status, body: await res.json(), visible: document.cookie };
  });
  return { session, cookies: await context.cookies('http://app.localhost/') };
}

test('OAuth with server-side PKCE: authorize, Auth, callback, the app page, signed in', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const visited = [];
  page.on('request', (request) => {
    if (request.isNavigationRequest()) visited.push(request.url());
  });
  await page.goto('http://app.localhost/edge/v1/authorize?provider=github&next=/after');
  assert.equal(page.url(), 'http://app.localhost/after');
  assert.equal(await page.textContent('#page'), '/after');
  assert.ok(
    visited.some((u) => u.startsWith('http://app.localhost/auth/v1/authorize?provider=github&redirect_to=')),
    visited.join('\n'),
  );
  assert.ok(visited.some((u) => u.startsWith('http://app.localhost/edge/v1/callback?code=')), visited.join('\n'));

  const { session, cookies } = await sessionOf(context, page);
  assert.equal(session.status, 200, JSON.stringify(session.body));
  assert.equal(session.body.user.email, 'github-user@example.com');
  const cookie = cookies.find((c) => c.name === 'sb-session');
  assert.ok(cookie, JSON.stringify(cookies));
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');
  assert.ok(!session.visible.includes('sb-session'), 'the page cannot read the session cookie');
  const flow = await context.cookies('http://app.localhost/edge/v1/callback');
  assert.deepEqual(
    flow.filter((c) => c.name === 'sb-flow'),
    [],
    'the flow cookie is gone after the callback',
  );
  await page.waitForFunction(() => document.getElementById('who').textContent !== '');
  assert.equal(await page.textContent('#who'), 'github-user@example.com');
  await page.screenshot({ path: path.join(shots, 'oauth.png') });
  await context.close();
});

test('a callback opened in another browser is refused and leads to the app with an error', async () => {
  // Someone starts a flow elsewhere and keeps the callback URL Auth gives back.
  const onProxy = (url) => new URL(new URL(url).pathname + new URL(url).search, env.proxyUrl);
  const started = await fetch(onProxy('http://app.localhost/edge/v1/authorize?provider=github&next=/after'), {
    redirect: 'manual',
  });
  assert.equal(started.status, 303);
  const fromAuth = await fetch(onProxy(started.headers.get('location')), { redirect: 'manual' });
  const callbackUrl = fromAuth.headers.get('location');
  assert.ok(callbackUrl?.startsWith('http://app.localhost/edge/v1/callback?code='), String(callbackUrl));

  // The browser that opens it has no flow cookie for it.
  const other = await browser.newContext();
  const victim = await other.newPage();
  await victim.goto(callbackUrl);
  const landed = new URL(victim.url());
  assert.equal(landed.pathname, '/');
  assert.equal(landed.searchParams.get('error'), 'invalid_request');
  const { session, cookies } = await sessionOf(other, victim);
  assert.equal(session.status, 401);
  assert.equal(cookies.find((c) => c.name === 'sb-session'), undefined);
  await other.close();
});

test('an email confirmation link signs in and leads to next', async () => {
  const res = await fetch(new URL('/auth/v1/admin/generate_link', env.stubUrl), {
    method: 'POST',
    headers: {
      apikey: env.stubInfo.service_role_key,
      authorization: `Bearer ${env.stubInfo.service_role_key}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ type: 'signup', email: 'browser-confirm@example.com', password: 'pw-123456' }),
  });
  assert.equal(res.status, 200);
  const { hashed_token: hash } = await res.json();
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`http://app.localhost/edge/v1/confirm?token_hash=${hash}&type=signup&next=/welcome`);
  assert.equal(page.url(), 'http://app.localhost/welcome');
  const { session, cookies } = await sessionOf(context, page);
  assert.equal(session.status, 200, JSON.stringify(session.body));
  assert.equal(session.body.user.email, 'browser-confirm@example.com');
  assert.equal(cookies.find((c) => c.name === 'sb-session')?.httpOnly, true);
  await page.waitForFunction(() => document.getElementById('who').textContent !== '');
  assert.equal(await page.textContent('#who'), 'browser-confirm@example.com');
  await page.screenshot({ path: path.join(shots, 'confirm.png') });

  // The same link again: used, so the app gets the error and no new session.
  const again = await (await browser.newContext()).newPage();
  await again.goto(`http://app.localhost/edge/v1/confirm?token_hash=${hash}&type=signup&next=/welcome`);
  const landed = new URL(again.url());
  assert.equal(landed.pathname, '/welcome');
  assert.equal(landed.searchParams.get('error'), 'otp_expired');
  await context.close();
});
