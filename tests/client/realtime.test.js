// Realtime through the proxy with the official supabase-js: a signed-in
// app subscribes over the proxy's WebSocket with only its session cookie,
// the stand-in Realtime sees the session's real token in the join, and the
// app receives broadcasts and postgres_changes, in both serializers. A
// revoked session's socket is closed with a code the client reports.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';
import { freshEmail, memoryStorage, startEnv } from './harness.js';

const PASSWORD = 'correct-horse-battery-9';
const WAIT_MS = 5_000;

let env;

before(async () => {
  env = await startEnv();
});

after(async () => {
  await env?.stop();
});

/** Resolves when `check()` holds, polling; fails after `ms`. */
async function until(what, check, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function stubPost(path, body) {
  const res = await fetch(new URL(path, env.stubUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, `stub ${path}: ${res.status}`);
  return res.json();
}

/** A signed-in app whose sockets record what they receive and how they close. */
async function signedInApp(vsn) {
  const browser = env.newBrowser();
  const sockets = { received: [], closes: [] };
  const BrowserWebSocket = browser.webSocketClass();
  class RecordingWebSocket extends BrowserWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => sockets.received.push(event.data));
      this.addEventListener('close', (event) => sockets.closes.push({ code: event.code, reason: event.reason }));
    }
  }
  const client = createClient(env.publicUrl, env.anonKey, {
    global: { fetch: browser.fetch },
    auth: { autoRefreshToken: false, persistSession: true, storage: memoryStorage(), detectSessionInUrl: false },
    realtime: { transport: RecordingWebSocket, vsn },
  });
  const { data, error } = await client.auth.signUp({ email: freshEmail(`rt-${vsn}`), password: PASSWORD });
  assert.equal(error, null, `sign-up failed: ${error?.message}`);
  assert.ok(data.session, 'sign-up gave no session');
  return { browser, client, sockets, session: data.session };
}

function subscribed(channel) {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve();
      else reject(new Error(`subscribe: ${status} ${err?.message ?? ''}`));
    });
  });
}

/** The joins of `topic` the stand-in Realtime received: {vsn, topic, event, payload}. */
async function joinsSeenByStub(topic) {
  const res = await fetch(new URL('/__stub/realtime/frames', env.stubUrl));
  const frames = await res.json();
  return frames
    .filter((f) => f.text !== undefined)
    .map((f) => JSON.parse(f.text))
    .map((m) => (Array.isArray(m) ? { vsn: '2.0.0', topic: m[2], event: m[3], payload: m[4] } : { vsn: '1.0.0', ...m }))
    .filter((m) => m.topic === topic && m.event === 'phx_join');
}

for (const vsn of ['1.0.0', '2.0.0']) {
  describe(`supabase-js realtime, vsn ${vsn}`, () => {
    test('a signed-in app receives broadcasts and postgres_changes with only its cookie', async () => {
      const { client, sockets, session } = await signedInApp(vsn);
      const name = `room-${vsn}-${Date.now()}`;
      const broadcasts = [];
      const changes = [];
      const channel = client
        .channel(name)
        .on('broadcast', { event: 'cursor' }, (message) => broadcasts.push(message))
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'todos' }, (change) => changes.push(change));
      try {
        await subscribed(channel);

        const joins = await joinsSeenByStub(`realtime:${name}`);
        assert.equal(joins.length, 1, 'one join reached Realtime');
        assert.equal(joins[0].vsn, vsn, 'the join is in the serializer the client chose');
        const token = joins[0].payload.access_token;
        assert.notEqual(token, session.access_token, 'the browser placeholder never reaches Realtime');
        assert.ok((await env.stub.issuedTokens()).includes(token), "the join carries the session's Auth token");

        const sent = await stubPost('/__stub/realtime/broadcast', {
          topic: `realtime:${name}`,
          event: 'cursor',
          payload: { x: 1, y: 2 },
        });
        assert.equal(sent.delivered, 1);
        await until('the broadcast', () => broadcasts.length === 1);
        assert.deepEqual(broadcasts[0].payload, { x: 1, y: 2 });

        const change = await stubPost('/__stub/realtime/postgres_changes', {
          table: 'todos',
          type: 'INSERT',
          record: { id: 7, title: 'from server' },
        });
        assert.equal(change.delivered, 1);
        await until('the postgres change', () => changes.length === 1);
        assert.equal(changes[0].eventType, 'INSERT');
        assert.deepEqual(changes[0].new, { id: 7, title: 'from server' });

        const issued = (await env.stub.issuedTokens()).filter((t) => typeof t === 'string' && t.length >= 8);
        const text = sockets.received.map((d) => (typeof d === 'string' ? d : Buffer.from(d).toString('latin1'))).join('\n');
        for (const t of issued) assert.equal(text.includes(t), false, 'a frame to the browser holds an Auth token');
      } finally {
        await client.removeAllChannels();
        client.realtime.disconnect();
      }
    });
  });
}

describe('supabase-js realtime and the session', () => {
  test('revoking the session closes its socket with 4001, which the client reports', async () => {
    const { browser, client, sockets } = await signedInApp('2.0.0');
    const channel = client.channel(`revoked-${Date.now()}`);
    try {
      await subscribed(channel);
      const me = await browser.get('/edge/v1/session');
      assert.equal(me.status, 200, me.text);
      const revoked = await browser.fetch(new URL(`/edge/v1/sessions/${me.json.id}`, browser.origin + '/'), {
        method: 'DELETE',
      });
      assert.equal(revoked.status, 200);
      const started = Date.now();
      await until('the socket to close', () => sockets.closes.length > 0);
      assert.ok(Date.now() - started < 5_000);
      assert.deepEqual(sockets.closes[0], { code: 4001, reason: 'session ended' });
    } finally {
      await client.removeAllChannels();
      client.realtime.disconnect();
    }
  });
});
