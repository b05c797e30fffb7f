'use client';
// Sign-up with supabase-js through the proxy. With email confirmation on,
// Auth sends a link (its template points at <proxy>/edge/v1/confirm), which
// signs the user in and leads to `next`.

import { useState, type FormEvent } from 'react';
import { supabase } from '@/lib/supabase';

export function SignUpForm() {
  const [error, setError] = useState('');
  const [message, setMessage] = useState('');

  async function signUp(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setError('');
    const { data, error } = await supabase().auth.signUp({
      email: String(form.get('email')),
      password: String(form.get('password')),
    });
    if (error) return setError(error.message);
    if (data.session) return window.location.assign('/dashboard');
    setMessage('Check your email to confirm your address.');
  }

  return (
    <>
      <form onSubmit={signUp} id="signup-form">
        <input name="email" type="email" placeholder="email" autoComplete="email" required />
        <input name="password" type="password" placeholder="password" autoComplete="new-password" required minLength={6} />
        <button type="submit">Sign up</button>
      </form>
      {message && <p className="note">{message}</p>}
      {error && <p className="error" role="alert">{error}</p>}
    </>
  );
}
