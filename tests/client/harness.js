// Test harness for the Node client tests: starts `supabase-stub` and
// `sb-cookie-proxy` in front of it, and gives tests a "browser" (a fetch that
// keeps cookies in a tough-cookie jar, same-origin, and records everything
// the client saw).
//
// The proxy listens on 127.0.0.1:0; its PROXY_PUBLIC_URL is a fixed public
// URL (default http://app.localhost) that the app and its browser use, as
// behind a front proxy or DNS name: the Browser routes that origin to the
// real socket, keeps cookies for the public host and sends the public
// `Origin`, so the app is same-origin with the proxy, as deployed.
//
// Binaries come from $SBP_BIN_DIR, or else ../../target/debug relative to
// this folder. Set SBP_CLIENT_TEST_LOGS=1 to echo the children's output.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createClient } from '@supabase/supabase-js';
import { CookieJar } from 'tough-cookie';
import { WebSocket as WsWebSocket } from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 3_000;
const LOG_LINES_KEPT = 300;

/** The folder holding `supabase-stub` and `sb-cookie-proxy`. */
export function binDir() {
  return process.env.SBP_BIN_DIR
    ? path.resolve(process.env.SBP_BIN_DIR)
    : path.resolve(HERE, '../../target/debug');
}

function binary(name) {
  const file = path.join(binDir(), name);
  if (!existsSync(file)) {
    throw new Error(
      `${file} not found: build it (cargo build -p sb-cookie-proxy -p sbp-stub) ` +
        'and set SBP_BIN_DIR to the folder holding the binaries',
    );
  }
  return file;
}

// Every child still alive, so that none outlives this process.
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Spawns `file` and waits (at most `timeoutMs`) for a stdout line accepted
 * by `parse` (which returns a value, or undefined to keep waiting). Output is
 * drained for the child's whole life; the last lines are kept for messages.
 */
function spawnUntilLine(name, file, args, env, parse, timeoutMs = START_TIMEOUT_MS) {
  const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const log = [];
  const keep = (stream) => (line) => {
    log.push(`[${name} ${stream}] ${line}`);
    if (process.env.SBP_CLIENT_TEST_LOGS) process.stderr.write(`[${name} ${stream}] ${line}\n`);
    if (log.length > LOG_LINES_KEPT) log.shift();
  };
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      // A grandchild may still hold the pipes: do not let them keep us alive.
      setImmediate(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      });
      resolve({ code, signal });
    });
  });
  createInterface({ input: child.stderr }).on('line', keep('stderr'));
  const stdout = createInterface({ input: child.stdout });

  const started = new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      fn(value);
    };
    const timer = setTimeout(() => {
      finish(reject, new Error(`${name} did not start within ${timeoutMs} ms\n${log.join('\n')}`));
    }, timeoutMs);
    child.once('error', (e) => finish(reject, new Error(`${name}: cannot spawn ${file}: ${e.message}`)));
    exited.then(({ code, signal }) =>
      finish(reject, new Error(`${name} exited (code ${code}, signal ${signal}) before starting\n${log.join('\n')}`)),
    );
    stdout.on('line', (line) => {
      keep('stdout')(line);
      if (done) return;
      let value;
      try {
        value = parse(line);
      } catch {
        value = undefined;
      }
      if (value !== undefined) finish(resolve, value);
    });
  });

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  return {
    child,
    started: started.catch(async (e) => {
      await stop();
      throw e;
    }),
    stop,
    log,
  };
}

/**
 * Starts the stub and the proxy in front of it.
 *
 * Options: `stubArgs` (e.g. ['--token-ttl', '30']), `proxyEnv` (extra
 * variables for the proxy), `publicUrl` (PROXY_PUBLIC_URL, the URL the app
 * uses; may have a base path).
 * Returns { stubUrl, anonKey, publicUrl, proxyUrl (the real socket),
 * stub: {...control helpers}, newBrowser(), logs(), stop() }.
 */
export async function startEnv({ stubArgs = [], proxyEnv = {}, publicUrl = DEFAULT_PUBLIC_URL } = {}) {
  const stub = spawnUntilLine('stub', binary('supabase-stub'), stubArgs, { ...process.env }, (line) => {
    const info = JSON.parse(line);
    return info && info.url && info.anon_key ? info : undefined;
  });
  const stubInfo = await stub.started;

  const proxy = spawnUntilLine(
    'proxy',
    binary('sb-cookie-proxy'),
    [],
    {
      ...process.env,
      SUPABASE_URL: stubInfo.url,
      SUPABASE_ANON_KEY: stubInfo.anon_key,
      PROXY_LISTEN: '127.0.0.1:0',
      PROXY_SESSION_STORE: 'memory:',
      PROXY_PUBLIC_URL: publicUrl,
      RUST_LOG: process.env.RUST_LOG ?? 'info',
      ...proxyEnv,
    },
    (line) => line.match(/^sb-cookie-proxy listening on (http:\/\/\S+)\s*$/)?.[1],
  );
  let proxyUrl;
  try {
    proxyUrl = await proxy.started;
  } catch (e) {
    await stub.stop();
    throw e;
  }

  const stubJson = async (method, p) => {
    const res = await fetch(new URL(p, stubInfo.url), { method });
    if (!res.ok) throw new Error(`stub ${method} ${p}: ${res.status}`);
    return res.status === 204 ? null : res.json();
  };

  return {
    stubUrl: stubInfo.url,
    anonKey: stubInfo.anon_key,
    stubInfo,
    publicUrl,
    proxyUrl,
    /** A new browser whose page is at the public origin, routed to the proxy. */
    newBrowser: () => new Browser(publicUrl, { connectTo: proxyUrl }),
    stub: {
      /** Every request the stub received: {method, path, query, headers, body}. */
      recorded: () => stubJson('GET', '/__stub/recorded'),
      /** Every access and refresh token the stub ever issued. */
      issuedTokens: () => stubJson('GET', '/__stub/issued_tokens'),
      /** Clears the request log. */
      clear: () => stubJson('POST', '/__stub/clear'),
      /** The current TOTP code of an enrolled factor's `secret` (what an authenticator app shows). */
      totpCode: async (secret) => (await stubJson('GET', `/__stub/totp?secret=${encodeURIComponent(secret)}`)).code,
    },
    logs: () => [...stub.log, ...proxy.log].join('\n'),
    stop: async () => {
      await Promise.all([proxy.stop(), stub.stop()]);
    },
  };
}

/** PROXY_PUBLIC_URL used by default: the app's (and so the proxy's) origin. */
export const DEFAULT_PUBLIC_URL = 'http://app.localhost';

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

/**
 * A browser whose page is at `pageUrl`'s origin: a cookie jar, a `fetch` that
 * sends and stores cookies like a browser does, and a record of every
 * exchange. With `connectTo`, requests to the page's origin are sent to that
 * address instead (what a front proxy or DNS does); URLs, cookies, `Origin`
 * and the record all stay in terms of the page's origin.
 */
export class Browser {
  constructor(pageUrl, { connectTo } = {}) {
    this.origin = new URL(pageUrl).origin;
    this.connectTo = connectTo ? new URL(connectTo).origin : undefined;
    this.jar = new CookieJar();
    /** Every exchange: { method, url, requestHeaders, status, headers: [[k, v]], setCookies, body }. */
    this.exchanges = [];
    /** Set-Cookie headers the jar refused (a browser would drop them). */
    this.cookieErrors = [];
    this.fetch = this.fetch.bind(this);
  }

  async fetch(input, init) {
    const request = new Request(input, init);
    const method = request.method;
    let body = method === 'GET' || method === 'HEAD' ? undefined : await request.arrayBuffer();
    let url = request.url;
    let currentMethod = method;
    const baseHeaders = new Headers(request.headers);

    for (let hop = 0; ; hop++) {
      const headers = new Headers(baseHeaders);
      headers.delete('cookie');
      const cookie = await this.jar.getCookieString(url);
      if (cookie) headers.set('cookie', cookie);
      // Browsers send Origin on every non-GET/HEAD fetch, same-origin included.
      if (currentMethod !== 'GET' && currentMethod !== 'HEAD') headers.set('origin', this.origin);

      const response = await globalThis.fetch(this.route(url), {
        method: currentMethod,
        headers,
        body,
        redirect: 'manual',
        signal: request.signal,
      });
      const setCookies = response.headers.getSetCookie();
      for (const sc of setCookies) {
        try {
          await this.jar.setCookie(sc, url);
        } catch (e) {
          this.cookieErrors.push({ url, setCookie: sc, error: e.message });
        }
      }
      const text = await response.text();
      this.exchanges.push({
        method: currentMethod,
        url,
        requestHeaders: Object.fromEntries(headers),
        status: response.status,
        headers: [...response.headers],
        setCookies,
        body: text,
      });

      const location = response.headers.get('location');
      if (REDIRECT_STATUS.has(response.status) && location && hop < 10) {
        url = new URL(location, url).href;
        if (response.status === 303 || ((response.status === 301 || response.status === 302) && currentMethod === 'POST')) {
          currentMethod = 'GET';
          body = undefined;
        }
        continue;
      }

      return new Response(NULL_BODY_STATUS.has(response.status) ? null : text, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    }
  }

  /** Where a request for `url` (http or ws) really goes. */
  route(url) {
    const u = new URL(url);
    const ws = u.protocol === 'ws:' || u.protocol === 'wss:';
    if (!this.connectTo || httpUrl(u).origin !== this.origin) return u.href;
    const target = new URL(this.connectTo);
    target.pathname = u.pathname;
    target.search = u.search;
    if (ws) target.protocol = target.protocol === 'https:' ? 'wss:' : 'ws:';
    return target.href;
  }

  /** A path on the proxy, fetched through the jar; resolves to { status, json, text }. */
  async get(p) {
    const res = await this.fetch(new URL(p, this.origin + '/'));
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  /** The cookies the jar would send to the proxy. */
  async cookies() {
    return this.jar.getCookies(this.origin + '/');
  }

  /** A WebSocket class for `realtime: { transport }` that sends the jar's cookie and the Origin. */
  webSocketClass() {
    const browser = this;
    return class BrowserWebSocket extends WsWebSocket {
      constructor(address, protocols, options = {}) {
        const cookie = browser.jar.getCookieStringSync(httpUrl(new URL(address)).href);
        const headers = { ...(options.headers ?? {}), Origin: browser.origin };
        if (cookie) headers.Cookie = cookie;
        super(browser.route(address), protocols, { ...options, headers });
      }
    };
  }
}

/** `url` with ws/wss turned into http/https (cookies and origins are per http origin). */
function httpUrl(url) {
  const u = new URL(url);
  if (u.protocol === 'ws:') u.protocol = 'http:';
  if (u.protocol === 'wss:') u.protocol = 'https:';
  return u;
}

/** The Web Storage subset supabase-js uses, in memory. */
export function memoryStorage() {
  const map = new Map();
  return {
    map,
    getItem: (key) => (map.has(key) ? map.get(key) : null),
    setItem: (key, value) => {
      map.set(key, String(value));
    },
    removeItem: (key) => {
      map.delete(key);
    },
  };
}

let counter = 0;
/** A fresh e-mail address for one test. */
export function freshEmail(label = 'user') {
  counter += 1;
  return `${label}-${process.pid}-${Date.now()}-${counter}@example.com`;
}

/**
 * A new "tab" of the app served by `env`, created as an app would: its own
 * browser (cookie jar), storage and supabase-js client whose fetch and
 * WebSocket go through that browser. `auth` adds to or overrides the auth options.
 */
export function newApp(env, auth = {}) {
  const browser = env.newBrowser();
  const storage = memoryStorage();
  const client = createClient(env.publicUrl, env.anonKey, {
    global: { fetch: browser.fetch },
    auth: { autoRefreshToken: false, persistSession: true, storage, detectSessionInUrl: false, ...auth },
    realtime: { transport: browser.webSocketClass() },
  });
  return { browser, storage, client };
}

/**
 * Where any of `issued` (the stub's tokens) shows in what `apps` (each
 * `{ browser, storage }`) received: every response's body and headers, and
 * the storage. Returns `{ exchanges, leaks }`: how many exchanges were read,
 * and one line per place a token was found.
 */
export function findIssuedTokens(issued, apps) {
  const tokens = issued.filter((t) => typeof t === 'string' && t.length >= 8);
  const leaks = [];
  let exchanges = 0;
  for (const { browser, storage } of apps) {
    for (const x of browser.exchanges) {
      exchanges += 1;
      const seen = [x.body, ...x.headers.map(([k, v]) => `${k}: ${v}`)].join('\n');
      if (tokens.some((t) => seen.includes(t))) leaks.push(`${x.method} ${x.url} (${x.status})`);
    }
    const stored = [...storage.map.values()].join('\n');
    if (tokens.some((t) => stored.includes(t))) leaks.push('client storage');
  }
  return { exchanges, leaks };
}

/** The claims of a JWT-shaped token (not verified). */
export function jwtClaims(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) throw new Error(`not JWT-shaped: ${String(token).slice(0, 12)}...`);
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

/** Whether a recorded stub request is a refresh grant (`POST /auth/v1/token?grant_type=refresh_token`). */
export function isRefreshGrant(recorded) {
  return (
    recorded.method === 'POST' &&
    recorded.path === '/auth/v1/token' &&
    new URLSearchParams(recorded.query ?? '').get('grant_type') === 'refresh_token'
  );
}
