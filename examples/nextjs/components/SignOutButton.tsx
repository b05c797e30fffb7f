'use client';
import { supabase } from '@/lib/supabase';

export function SignOutButton() {
  async function signOut() {
    // The proxy ends the session (here and in Auth) and clears its cookie.
    await supabase().auth.signOut();
    window.location.assign('/');
  }
  return (
    <button type="button" id="signout" onClick={signOut}>
      Sign out
    </button>
  );
}
