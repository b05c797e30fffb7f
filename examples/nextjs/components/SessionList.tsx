'use client';
// The user's sessions from the proxy (GET /edge/v1/sessions), each with a
// revoke button (DELETE /edge/v1/sessions/{id}). The browser asks the proxy
// itself: the session cookie never reaches the app's server.

import { useCallback, useEffect, useState } from 'react';

interface ProxySession {
  id: string;
  created_at: string;
  last_seen_at: string;
  ip: string | null;
  user_agent: string | null;
  current: boolean;
}

export function SessionList() {
  const [sessions, setSessions] = useState<ProxySession[] | null>(null);
  const [error, setError] = useState('');

  const load = useCallback(async () => {
    const res = await fetch('/edge/v1/sessions');
    if (!res.ok) return setError(`GET /edge/v1/sessions: ${res.status}`);
    setSessions(await res.json());
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  async function revoke(session: ProxySession) {
    const res = await fetch(`/edge/v1/sessions/${encodeURIComponent(session.id)}`, { method: 'DELETE' });
    if (!res.ok) return setError(`DELETE /edge/v1/sessions/${session.id}: ${res.status}`);
    if (session.current) return window.location.assign('/');
    await load();
  }

  if (error) return <p className="error" role="alert">{error}</p>;
  if (!sessions) return <p>Loading…</p>;
  return (
    <table id="sessions">
      <thead>
        <tr><th>Signed in</th><th>Last seen</th><th>Browser</th><th></th></tr>
      </thead>
      <tbody>
        {sessions.map((s) => (
          <tr key={s.id} data-session={s.id} data-current={s.current}>
            <td>{new Date(s.created_at).toLocaleString()}</td>
            <td>{new Date(s.last_seen_at).toLocaleString()}</td>
            <td>{(s.user_agent ?? 'unknown').slice(0, 40)}{s.current ? ' (this one)' : ''}</td>
            <td>
              <button type="button" onClick={() => revoke(s)}>Revoke</button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
