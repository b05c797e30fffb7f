'use client';
// Password sign-in with supabase-js (through the proxy, which answers with
// its cookie), a link sent by email, and OAuth through the proxy's
// server-side flow (/edge/v1/authorize: no code in the app).

import { useState, type FormEvent } from 'react';
import { useSearchParams } from 'next/navigation';
import { safeNext } from '@/lib/next-path';
import { supabase } from '@/lib/supabase';

export function SignInForm() {
  const params = useSearchParams();
  const next = safeNext(params.get('next'));
  const [error, setError] = useState(params.get('error_description') ?? '');
  const [message, setMessage] = useState('');

  async function withPassword(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setError('');
    const { error } = await supabase().auth.signInWithPassword({
      email: String(form.get('email')),
      password: String(form.get('password')),
    });
    if (error) return setError(error.message);
    // A full navigation: the next request carries the cookie, so the proxy
    // adds the identity and proxy.ts serves the signed-in pages.
    window.location.assign(next);
  }

  async function withEmailLink(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setError('');
    // Auth's magic-link template points at <proxy>/edge/v1/confirm (see the README).
    const { error } = await supabase().auth.signInWithOtp({
      email: String(form.get('email')),
      options: { shouldCreateUser: false },
    });
    if (error) return setError(error.message);
    setMessage('Check your email for a sign-in link.');
  }

  const oauth = `/edge/v1/authorize?provider=github&next=${encodeURIComponent(next)}`;
  return (
    <>
      <form onSubmit={withPassword} id="password-form">
        <input name="email" type="email" placeholder="email" autoComplete="email" required />
        <input name="password" type="password" placeholder="password" autoComplete="current-password" required />
        <button type="submit">Sign in</button>
      </form>
      <p>
        <a href={oauth} id="oauth">Sign in with GitHub</a>
      </p>
      <form onSubmit={withEmailLink} id="link-form">
        <input name="email" type="email" placeholder="email" required />
        <button type="submit">Email me a sign-in link</button>
      </form>
      {message && <p className="note">{message}</p>}
      {error && <p className="error" role="alert">{error}</p>}
    </>
  );
}
