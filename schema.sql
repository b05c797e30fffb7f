-- The database side of sb-cookie-proxy, for a Supabase project.
--
-- Run it as the `postgres` role (the SQL editor, or psql); running it again
-- changes nothing. docs/DATABASE.md explains each part.
--
-- 1. public.sessions: the proxy's sessions, mirrored for the app to read
--    with row-level security (each user reads their own rows). The proxy
--    writes it as service_role with PROXY_SESSIONS_TABLE=on.
-- 2. Triggers on auth.users (insert, update, delete) and auth.sessions
--    (delete) that send Supabase Database Webhook payloads
--    {type, table, schema, record, old_record}, signed with Standard
--    Webhooks, to the proxy's POST <PROXY_PUBLIC_URL>/edge/v1/hooks/auth,
--    through pg_net. The hook's URL and secret come from Vault
--    (cookie_proxy_hook_url, cookie_proxy_hook_secret) or else from the
--    table cookie_proxy.settings (hook_url, hook_secret); without both,
--    nothing is sent.

-- Extensions: pgcrypto's hmac in the `extensions` schema (where Supabase
-- installs it) and pg_net's net.http_post.
do $$
begin
  if to_regprocedure('extensions.hmac(bytea, bytea, text)') is null then
    create schema if not exists extensions;
    create extension if not exists pgcrypto with schema extensions;
  end if;
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    create extension if not exists pg_net;
  end if;
end
$$;

-- 1. The sessions mirror ---------------------------------------------------

create table if not exists public.sessions (
  -- The proxy's public session id (shown in its listings, used to revoke).
  id uuid primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz not null,
  last_seen_at timestamptz not null,
  -- When the session ends unless it is used again.
  expires_at timestamptz not null,
  ip inet,
  country text,
  user_agent text
);

comment on table public.sessions is
  'Sessions of sb-cookie-proxy, written by the proxy (service_role); each user reads their own.';

create index if not exists sessions_user_id_idx on public.sessions (user_id);
create index if not exists sessions_expires_at_idx on public.sessions (expires_at);

alter table public.sessions enable row level security;

revoke all on table public.sessions from public, anon, authenticated;
grant select on table public.sessions to authenticated;
grant select, insert, update, delete on table public.sessions to service_role;

drop policy if exists sessions_read_own on public.sessions;
create policy sessions_read_own on public.sessions
  for select to authenticated
  using ((select auth.uid()) = user_id);

drop policy if exists sessions_service_role on public.sessions;
create policy sessions_service_role on public.sessions
  for all to service_role
  using (true) with check (true);

-- 2. The hook's settings ----------------------------------------------------

create schema if not exists cookie_proxy;
revoke all on schema cookie_proxy from public, anon, authenticated;
grant usage on schema cookie_proxy to service_role;

create table if not exists cookie_proxy.settings (
  name text primary key check (name in ('hook_url', 'hook_secret')),
  value text not null
);

comment on table cookie_proxy.settings is
  'The proxy hook''s URL (hook_url) and Standard Webhooks secret (hook_secret, v1,whsec_...), unless Vault has them.';

alter table cookie_proxy.settings enable row level security;
revoke all on table cookie_proxy.settings from public, anon, authenticated;
grant select, insert, update, delete on table cookie_proxy.settings to service_role;

-- A setting from Vault (named cookie_proxy_<name>), else from the table.
create or replace function cookie_proxy.setting(setting_name text)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  found text;
begin
  if to_regclass('vault.decrypted_secrets') is not null then
    execute 'select decrypted_secret from vault.decrypted_secrets where name = $1 limit 1'
      into found
      using 'cookie_proxy_' || setting_name;
    if found is not null then
      return found;
    end if;
  end if;
  select s.value into found from cookie_proxy.settings s where s.name = setting_name;
  return found;
end
$$;

-- Signs `payload` (Standard Webhooks: HMAC-SHA256 over
-- "{webhook-id}.{webhook-timestamp}.{body}" with the bytes of the secret's
-- base64 after whsec_; the first secret when several are listed) and queues
-- it with pg_net, which sends exactly payload::text after the commit.
-- Returns pg_net's request id, or null when the hook is not configured.
create or replace function cookie_proxy.send_hook(payload jsonb)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  hook_url text := cookie_proxy.setting('hook_url');
  secret text := cookie_proxy.setting('hook_secret');
  message_id text := 'msg_' || replace(gen_random_uuid()::text, '-', '');
  -- The time of the change, not of the transaction's start (now()): the
  -- proxy refuses timestamps more than 5 minutes off, and a transaction
  -- may have been open longer than that.
  sent_at text := extract(epoch from clock_timestamp())::bigint::text;
  signature text;
begin
  if hook_url is null or secret is null then
    return null;
  end if;
  secret := split_part(btrim(secret), ' ', 1);
  if secret !~ '^(v1,)?whsec_[A-Za-z0-9+/=]+$' then
    raise exception 'the hook secret must look like v1,whsec_<base64>';
  end if;
  signature := 'v1,' || encode(
    extensions.hmac(
      convert_to(message_id || '.' || sent_at || '.' || payload::text, 'UTF8'),
      decode(regexp_replace(secret, '^(v1,)?whsec_', ''), 'base64'),
      'sha256'
    ),
    'base64'
  );
  return net.http_post(
    url := hook_url,
    body := payload,
    params := '{}'::jsonb,
    headers := jsonb_build_object(
      'Content-Type', 'application/json',
      'webhook-id', message_id,
      'webhook-timestamp', sent_at,
      'webhook-signature', signature
    ),
    timeout_milliseconds := 5000
  );
end
$$;

-- The trigger of auth.users and auth.sessions: the Database Webhook
-- payload, without the columns that hold secrets (password hash, one-time
-- tokens, the refresh token HMAC key). An update of auth.users that changes
-- only those or the sign-in times (every sign-in writes last_sign_in_at)
-- sends nothing. A failure is a warning: it never fails Auth's write.
create or replace function cookie_proxy.notify_hook()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  hidden constant text[] := array[
    'encrypted_password', 'confirmation_token', 'recovery_token',
    'email_change_token_new', 'email_change_token_current',
    'phone_change_token', 'reauthentication_token', 'refresh_token_hmac_key'
  ];
  unnoticed constant text[] := array['last_sign_in_at', 'updated_at', 'refreshed_at'];
  new_row jsonb;
  old_row jsonb;
begin
  if tg_op in ('INSERT', 'UPDATE') then
    new_row := to_jsonb(new) - hidden;
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    old_row := to_jsonb(old) - hidden;
  end if;
  if tg_op = 'UPDATE' and (new_row - unnoticed) = (old_row - unnoticed) then
    return null;
  end if;
  perform cookie_proxy.send_hook(jsonb_build_object(
    'type', tg_op,
    'table', tg_table_name,
    'schema', tg_table_schema,
    'record', new_row,
    'old_record', old_row
  ));
  return null;
exception when others then
  raise warning 'sb-cookie-proxy hook: % on %.% not sent: %',
    tg_op, tg_table_schema, tg_table_name, sqlerrm;
  return null;
end
$$;

revoke all on function cookie_proxy.setting(text) from public, anon, authenticated, service_role;
revoke all on function cookie_proxy.send_hook(jsonb) from public, anon, authenticated, service_role;
revoke all on function cookie_proxy.notify_hook() from public, anon, authenticated, service_role;

drop trigger if exists cookie_proxy_hook on auth.users;
create trigger cookie_proxy_hook
  after insert or update or delete on auth.users
  for each row execute function cookie_proxy.notify_hook();

-- Only deletions of Auth sessions matter to the proxy (an admin or Auth
-- signed one out); `after insert or delete` also announces new ones.
drop trigger if exists cookie_proxy_hook on auth.sessions;
create trigger cookie_proxy_hook
  after delete on auth.sessions
  for each row execute function cookie_proxy.notify_hook();
