//! A real PostgreSQL for tests: Debian's server (`/usr/lib/postgresql/N/bin`,
//! installed by `scripts/test.sh`) with a cluster of its own in a temp dir,
//! on a free loopback port, stopped when dropped; SQL runs through `psql`.
//! As root, the server runs as the `postgres` user (initdb refuses root).
//!
//! [`SUPABASE_BASE`] is what `schema.sql` expects of a Supabase project,
//! reduced to what it touches: the roles, `auth.users`, `auth.sessions`,
//! `auth.uid()`, pgcrypto in `extensions`, and pg_net's `net.http_post`
//! replaced by a function that records each call in `net.calls` (the body
//! as the bytes pg_net would send).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The parts of a Supabase database that `schema.sql` uses.
pub const SUPABASE_BASE: &str = r#"
create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;

create schema extensions;
create extension pgcrypto with schema extensions;

create schema auth;
grant usage on schema auth to anon, authenticated, service_role;

-- GoTrue's columns (supabase/auth's migrations), secrets included.
create table auth.users (
  instance_id uuid,
  id uuid primary key,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  confirmation_token varchar(255),
  recovery_token varchar(255),
  email_change_token_new varchar(255),
  email_change_token_current varchar(255),
  phone_change_token varchar(255),
  reauthentication_token varchar(255),
  invited_at timestamptz,
  confirmation_sent_at timestamptz,
  recovery_sent_at timestamptz,
  email_change varchar(255) default '',
  email_change_sent_at timestamptz,
  email_change_confirm_status smallint default 0,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  phone text unique default null,
  phone_confirmed_at timestamptz,
  phone_change text default '',
  phone_change_sent_at timestamptz,
  confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  reauthentication_sent_at timestamptz,
  banned_until timestamptz,
  last_sign_in_at timestamptz,
  created_at timestamptz,
  updated_at timestamptz,
  is_sso_user boolean not null default false,
  deleted_at timestamptz,
  is_anonymous boolean not null default false
);

create table auth.sessions (
  id uuid primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz,
  updated_at timestamptz,
  aal text,
  not_after timestamptz,
  refreshed_at timestamp,
  user_agent text,
  ip inet,
  tag text,
  refresh_token_hmac_key text,
  refresh_token_counter bigint
);

-- As Supabase defines it: the `sub` claim PostgREST put in request.jwt.claims.
create function auth.uid() returns uuid language sql stable as $$
  select nullif(
    coalesce(
      current_setting('request.jwt.claim.sub', true),
      current_setting('request.jwt.claims', true)::jsonb ->> 'sub'
    ),
    ''
  )::uuid
$$;

-- pg_net's signature; the body is recorded as pg_net queues and sends it
-- (`convert_to(body::text, 'UTF8')`), and as text.
create schema net;
create table net.calls (
  id bigserial primary key,
  url text not null,
  body bytea not null,
  body_text text not null,
  params jsonb,
  headers jsonb,
  timeout_milliseconds integer
);
create function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint language sql as $$
  insert into net.calls (url, body, body_text, params, headers, timeout_milliseconds)
  values (url, convert_to(body::text, 'UTF8'), convert_from(convert_to(body::text, 'UTF8'), 'UTF8'),
          params, headers, timeout_milliseconds)
  returning id
$$;
"#;

pub struct Postgres {
    port: u16,
    bin: PathBuf,
    /// The cluster and the server's socket and log.
    dir: tempfile::TempDir,
    /// Commands run as the `postgres` user (this process is root).
    as_postgres: bool,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The newest installed server's `bin` folder.
fn server_bin() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (apt-get install postgresql, or run scripts/test.sh)");
    let mut bins: Vec<(u32, PathBuf)> = versions
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    bins.sort();
    bins.pop().expect("a PostgreSQL server with initdb").1
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn run(mut command: Command, what: &str) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

impl Postgres {
    /// Starts a new cluster and waits until it accepts connections.
    pub fn start() -> Postgres {
        let as_postgres = is_root();
        let dir = tempfile::tempdir().unwrap();
        if as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("postgres:").arg(dir.path());
            assert!(run(chown, "chown").status.success(), "chown to postgres");
        }
        let mut server = Postgres {
            port: 0,
            bin: server_bin(),
            dir,
            as_postgres,
        };
        let mut initdb = server.tool("initdb");
        initdb
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(server.data());
        let out = run(initdb, "initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A port found free may be taken before the server binds it: try another.
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port();
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
                server.port,
                server.dir.path().display()
            );
            let mut pg_ctl = server.tool("pg_ctl");
            pg_ctl
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(server.data())
                .arg("-l")
                .arg(server.dir.path().join("log"))
                .args(["-o", &options]);
            let out = run(pg_ctl, "pg_ctl start");
            if out.status.success() {
                return server;
            }
            last_error = std::fs::read_to_string(server.dir.path().join("log")).unwrap_or_default();
        }
        panic!("PostgreSQL did not start: {last_error}");
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A server program, run as `postgres` when this process is root.
    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// Runs `sql` in one session as the superuser, stopping at the first
    /// error: what it printed (unaligned, no headers), or the error.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let mut psql = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql runs (apt-get install postgresql-client)");
        let mut stdin = psql.stdin.take().unwrap();
        stdin.write_all(sql.as_bytes()).unwrap();
        drop(stdin);
        let out = psql.wait_with_output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// Runs `sql`, which must succeed.
    pub fn sql(&self, sql: &str) -> String {
        self.psql(sql)
            .unwrap_or_else(|e| panic!("SQL failed: {e}\n{sql}"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut pg_ctl = self.tool("pg_ctl");
        pg_ctl
            .args(["stop", "-m", "immediate", "-D"])
            .arg(self.data());
        let _ = run(pg_ctl, "pg_ctl stop");
    }
}
