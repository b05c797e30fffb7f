'use client';
// A Realtime broadcast channel: supabase-js opens its WebSocket to this
// page's origin (/realtime/v1/websocket), where the proxy relays it to
// Realtime with the session's token. No rewrite, so `next dev` and
// `next start` behave the same.

import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { RealtimeChannel } from '@supabase/supabase-js';
import { supabase } from '@/lib/supabase';

const ROOM = 'demo-room';

export function BroadcastDemo() {
  const channel = useRef<RealtimeChannel | null>(null);
  const [status, setStatus] = useState('connecting');
  const [messages, setMessages] = useState<string[]>([]);

  useEffect(() => {
    const room = supabase()
      .channel(ROOM)
      .on('broadcast', { event: 'message' }, ({ payload }) => {
        setMessages((all) => [...all, String(payload?.text ?? '')]);
      })
      .subscribe((state) => setStatus(state));
    channel.current = room;
    return () => {
      void supabase().removeChannel(room);
    };
  }, []);

  async function send(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const input = event.currentTarget.elements.namedItem('text') as HTMLInputElement;
    await channel.current?.send({ type: 'broadcast', event: 'message', payload: { text: input.value } });
    input.value = '';
  }

  return (
    <>
      <p>
        Channel <code>{ROOM}</code>: <span id="status">{status}</span>
      </p>
      <form onSubmit={send} id="broadcast-form">
        <input name="text" placeholder="a message" required />
        <button type="submit" disabled={status !== 'SUBSCRIBED'}>Send</button>
      </form>
      <ul id="messages">
        {messages.map((m, i) => (
          <li key={i}>{m}</li>
        ))}
      </ul>
    </>
  );
}
