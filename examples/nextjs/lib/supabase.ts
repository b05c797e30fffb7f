'use client';
// supabase-js in the browser, pointed at the page's own origin: the proxy
// answers for Auth, REST and Realtime there, so the browser talks to nobody
// else. The proxy replaces the `apikey` and `Authorization` of every request
// with the project's key and the session's token, so the key here is only a
// placeholder (supabase-js requires one) and the "session" supabase-js keeps
// holds placeholder tokens: the real ones never leave the proxy.

import { createClient, type SupabaseClient } from '@supabase/supabase-js';

const PLACEHOLDER_KEY = 'the-proxy-adds-the-project-key';

let client: SupabaseClient | undefined;

export function supabase(): SupabaseClient {
  client ??= createClient(window.location.origin, PLACEHOLDER_KEY, {
    auth: {
      // OAuth and email links go through the proxy's /edge/v1 endpoints,
      // which end the flow server-side: nothing to pick up from the URL.
      flowType: 'pkce',
      detectSessionInUrl: false,
    },
  });
  return client;
}
