//! The database side: `schema.sql` on a real PostgreSQL with a minimal
//! Supabase around it ([`schema`]: row-level security of `public.sessions`,
//! the hook settings out of reach, the triggers' signed payloads checked by
//! the proxy's own verifier), and the proxy keeping `public.sessions` in
//! step through the stand-in's PostgREST ([`mirror`],
//! `PROXY_SESSIONS_TABLE=on`); and what the triggers send delivered to a
//! running proxy's hook, which acts on it ([`triggers_to_hook`]).

mod mirror;
mod schema;
mod triggers_to_hook;

use crate::support::postgres::{Postgres, SUPABASE_BASE};
use serde_json::json;

const SCHEMA: &str = include_str!("../../schema.sql");
pub const HOOK_URL: &str = "https://app.example.com/supabase/edge/v1/hooks/auth";
pub const SECRET: &str = "v1,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
pub const BOB: &str = "b0b00000-0000-4000-8000-000000000002";

/// A database with Supabase's parts and `schema.sql`, loaded twice.
pub fn database() -> Postgres {
    let db = Postgres::start();
    db.sql(SUPABASE_BASE);
    db.sql(SCHEMA);
    db.psql(SCHEMA).expect("schema.sql runs a second time");
    db
}

/// An Auth user with a password hash and one-time tokens (secrets the
/// hook's payload must leave out).
pub fn add_user(db: &Postgres, id: &str, email: &str) {
    db.sql(&format!(
        "insert into auth.users (id, email, encrypted_password, confirmation_token, \
         recovery_token, raw_app_meta_data, created_at, updated_at) \
         values ('{id}', '{email}', '$2a$10$hash', 'confirm-secret', 'recover-secret', \
         '{{\"provider\":\"email\"}}', now(), now())"
    ));
}

/// A row of `public.sessions`, written as the proxy does (`service_role`).
pub fn add_mirrored_session(db: &Postgres, id: &str, user: &str) {
    db.sql(&format!(
        "set role service_role; insert into public.sessions \
         (id, user_id, created_at, last_seen_at, expires_at, ip, country, user_agent) \
         values ('{id}', '{user}', now(), now(), now() + interval '1 day', '203.0.113.7', 'NL', 'Firefox')"
    ));
}

/// Runs `sql` in a transaction as `role`, with `sub` in `request.jwt.claims`
/// as PostgREST sets it.
pub fn as_role(db: &Postgres, role: &str, sub: Option<&str>, sql: &str) -> Result<String, String> {
    let claims = match sub {
        Some(sub) => json!({"sub": sub, "role": role}),
        None => json!({"role": role}),
    };
    db.psql(&format!(
        "begin; set local role {role}; set local request.jwt.claims = '{claims}'; {sql}; commit;"
    ))
}
