//! `schema.sql`'s triggers and the proxy's hook joined: a user signed in
//! through the proxy also exists in a real PostgreSQL's `auth.users` and
//! `auth.sessions` (same ids as the stand-in issued); changes written
//! there are recorded by `net.http_post` exactly as the triggers built
//! them, and delivered to the proxy's `POST /edge/v1/hooks/auth` with a
//! real HTTP POST (url, headers, and the body's bytes as pg_net sends
//! them). What the proxy then shows at `/edge/v1/session` is what Auth's
//! database says.

use super::{SECRET, database};
use crate::support::http::{full, http_client};
use crate::support::postgres::Postgres;
use crate::support::{Browser, Env, Setup};
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{Value, json};

/// One recorded `net.http_post` call, as pg_net would send it.
struct Recorded {
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn payload(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// `(type, table)` of the payload.
    fn change(&self) -> (String, String) {
        let payload = self.payload();
        let text = |field: &str| payload[field].as_str().unwrap_or_default().to_string();
        (text("type"), text("table"))
    }

    /// POSTs the call to its url; the status and the JSON answer.
    async fn deliver(&self) -> (u16, Value) {
        self.deliver_body(self.body.clone()).await
    }

    /// POSTs the call with `body` instead of the one that was signed.
    async fn deliver_body(&self, body: Vec<u8>) -> (u16, Value) {
        let mut request = http::Request::builder()
            .method(http::Method::POST)
            .uri(&self.url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = request.body(full(body)).expect("a valid request");
        let response = http_client()
            .request(request)
            .await
            .expect("the proxy answers");
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// The calls recorded since the last look, oldest first.
fn recorded_calls(db: &Postgres) -> Vec<Recorded> {
    let rows = db.sql(
        "select coalesce(json_agg(json_build_object('url', url, 'headers', headers, \
         'body', translate(encode(body, 'base64'), E'\\n', '')) order by id), '[]') \
         from net.calls; delete from net.calls;",
    );
    let rows: Vec<Value> = serde_json::from_str(&rows).expect("JSON rows");
    rows.into_iter()
        .map(|row| Recorded {
            url: row["url"].as_str().unwrap().to_string(),
            headers: row["headers"]
                .as_object()
                .expect("headers as an object")
                .iter()
                .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_string()))
                .collect(),
            body: base64::engine::general_purpose::STANDARD
                .decode(row["body"].as_str().unwrap())
                .expect("base64 body"),
        })
        .collect()
}

/// Delivers every call recorded since the last look; each must be accepted.
async fn deliver_recorded(db: &Postgres) -> Vec<Recorded> {
    let calls = recorded_calls(db);
    for call in &calls {
        let (status, answer) = call.deliver().await;
        assert_eq!(status, 200, "{:?}: {answer}", call.change());
    }
    calls
}

/// The proxy (with the hook's secret) in front of the stand-in, and a
/// database whose triggers call that proxy's hook.
struct Rig {
    env: Env,
    db: Postgres,
}

async fn rig() -> Rig {
    let env = Env::with(Setup {
        settings: vec![("PROXY_HOOK_SECRET", SECRET.to_string())],
        ..Setup::default()
    })
    .await;
    let db = database();
    let hook_url = format!("{}/edge/v1/hooks/auth", env.base());
    db.sql(&format!(
        "insert into cookie_proxy.settings (name, value) values \
         ('hook_url', '{hook_url}'), ('hook_secret', '{SECRET}')"
    ));
    Rig { env, db }
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The user as `/edge/v1/session` shows it (`Null` when signed out).
async fn session_user(browser: &mut Browser) -> Value {
    let reply = browser.get("/edge/v1/session").await;
    match reply.status {
        200 => reply.json()["user"].clone(),
        401 => Value::Null,
        other => panic!("/edge/v1/session answered {other}: {}", reply.text()),
    }
}

impl Rig {
    /// Signs a new user in through the proxy and gives them, in the
    /// database, the `auth.users` row Auth keeps for them (the stand-in's
    /// id and metadata) and the `auth.sessions` row of that sign-in.
    async fn signed_in(&self, email: &str) -> (Browser, String) {
        let (mut browser, user_id) = self.env.signed_in(email).await;
        let user = session_user(&mut browser).await;
        self.db.sql(&format!(
            "insert into auth.users (instance_id, id, aud, role, email, encrypted_password, \
             email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at, \
             last_sign_in_at) values ('00000000-0000-0000-0000-000000000000', '{user_id}', \
             'authenticated', 'authenticated', {email}, '$2a$10$hash', now(), {app}, {meta}, \
             now(), now(), now())",
            email = literal(email),
            app = literal(&user["app_metadata"].to_string()),
            meta = literal(&user["user_metadata"].to_string()),
        ));
        self.add_auth_sessions(&user_id);
        let created = deliver_recorded(&self.db).await;
        assert_eq!(created.len(), 1, "one call for the new user");
        assert_eq!(created[0].change(), ("INSERT".into(), "users".into()));
        (browser, user_id)
    }

    /// Another sign-in of the user, with its `auth.sessions` row.
    async fn signed_in_again(&self, email: &str, user_id: &str) -> Browser {
        let mut browser = self.env.browser();
        let reply = browser.sign_in(email, "pw123456").await;
        assert_eq!(reply.status, 200, "sign-in: {}", reply.text());
        self.add_auth_sessions(user_id);
        assert!(
            recorded_calls(&self.db).is_empty(),
            "new sessions are not sent"
        );
        browser
    }

    /// Rows of `auth.sessions` for the user's Auth sessions the database
    /// does not have yet (the ids the stand-in issued).
    fn add_auth_sessions(&self, user_id: &str) {
        for session_id in self.env.stub.auth_session_ids(user_id) {
            self.db.sql(&format!(
                "insert into auth.sessions (id, user_id, created_at, updated_at, aal, \
                 refresh_token_hmac_key) values ('{session_id}', '{user_id}', now(), now(), \
                 'aal1', 'hmac-key') on conflict (id) do nothing"
            ));
        }
    }

    /// Runs `sql` and returns the one call its trigger recorded.
    fn one_call(&self, sql: &str) -> Recorded {
        self.db.sql(sql);
        let mut calls = recorded_calls(&self.db);
        assert_eq!(calls.len(), 1, "one call for {sql}");
        calls.remove(0)
    }
}

#[tokio::test]
async fn an_app_metadata_change_in_the_database_reaches_the_session_once_and_unaltered() {
    let rig = rig().await;
    let (mut browser, user_id) = rig.signed_in("db-metadata@example.com").await;
    let before = session_user(&mut browser).await;

    let promote = rig.one_call(&format!(
        "update auth.users set raw_app_meta_data = raw_app_meta_data || '{{\"plan\":\"pro\"}}' \
         where id = '{user_id}'"
    ));
    assert_eq!(
        promote.url,
        format!("{}/edge/v1/hooks/auth", rig.env.base())
    );
    let (status, answer) = promote.deliver().await;
    assert_eq!(status, 200, "{answer}");
    let user = session_user(&mut browser).await;
    let mut expected = before["app_metadata"].clone();
    expected["plan"] = json!("pro");
    assert_eq!(user["app_metadata"], expected, "{user}");
    assert_eq!(user["user_metadata"], before["user_metadata"]);
    assert_eq!(user["email"], before["email"]);
    assert_eq!(
        user["identities"], before["identities"],
        "kept: not a column"
    );
    assert!(user.get("raw_app_meta_data").is_none() && user.get("encrypted_password").is_none());

    // The same call again is a replay.
    let (status, answer) = promote.deliver().await;
    assert_eq!(
        (status, &answer["error"]),
        (401, &json!("hook_refused")),
        "{answer}"
    );

    // A call whose body was changed on the way is refused and changes nothing.
    let demote = rig.one_call(&format!(
        "update auth.users set raw_app_meta_data = raw_app_meta_data || '{{\"plan\":\"team\"}}' \
         where id = '{user_id}'"
    ));
    let altered = String::from_utf8(demote.body.clone())
        .unwrap()
        .replace("\"team\"", "\"enterprise\"");
    assert_ne!(altered.as_bytes(), demote.body.as_slice());
    let (status, answer) = demote.deliver_body(altered.into_bytes()).await;
    assert_eq!(
        (status, &answer["error"]),
        (401, &json!("hook_refused")),
        "{answer}"
    );
    assert_eq!(
        session_user(&mut browser).await["app_metadata"]["plan"],
        "pro"
    );

    // Unaltered, it applies.
    assert_eq!(demote.deliver().await.0, 200);
    assert_eq!(
        session_user(&mut browser).await["app_metadata"]["plan"],
        "team"
    );

    // Text beyond ASCII, quotes and backslashes: signed and sent as the
    // same UTF-8 bytes.
    let name = "Zoë \"Z\" Ångström \\ 東京 ✓";
    let renamed = rig.one_call(&format!(
        "update auth.users set raw_user_meta_data = jsonb_build_object('name', {}) \
         where id = '{user_id}'",
        literal(name)
    ));
    assert!(
        String::from_utf8(renamed.body.clone())
            .unwrap()
            .contains("東京")
    );
    assert_eq!(renamed.deliver().await.0, 200);
    assert_eq!(
        session_user(&mut browser).await["user_metadata"]["name"],
        name
    );
}

#[tokio::test]
async fn a_ban_written_in_the_database_ends_the_user_s_sessions() {
    let rig = rig().await;
    // banned_until as the database writes it: a far date, infinity, and a
    // ban of one hour written in a session whose time zone is not UTC.
    let bans = [
        (
            "UTC",
            "'2999-01-01 00:00:00+00'",
            "2999-01-01T00:00:00+00:00",
        ),
        ("UTC", "'infinity'", "infinity"),
        ("Asia/Kolkata", "now() + interval '1 hour'", "+05:30"),
    ];
    for (n, (zone, until, as_sent)) in bans.into_iter().enumerate() {
        let email = format!("db-ban-{n}@example.com");
        let (mut browser, user_id) = rig.signed_in(&email).await;
        let ban = rig.one_call(&format!(
            "set timezone to '{zone}'; \
             update auth.users set banned_until = {until} where id = '{user_id}'"
        ));
        let sent = ban.payload()["record"]["banned_until"].clone();
        assert!(sent.as_str().unwrap().ends_with(as_sent), "{sent}");
        let (status, answer) = ban.deliver().await;
        assert_eq!(status, 200, "{until}: {answer}");
        assert_eq!(session_user(&mut browser).await, Value::Null, "{until}");
    }

    // A ban that has already ended leaves the session alone.
    let (mut browser, user_id) = rig.signed_in("db-ban-over@example.com").await;
    let lifted = rig.one_call(&format!(
        "update auth.users set banned_until = now() - interval '1 minute' where id = '{user_id}'"
    ));
    assert_eq!(lifted.deliver().await.0, 200);
    assert_eq!(session_user(&mut browser).await["id"], user_id.as_str());
}

#[tokio::test]
async fn deleting_an_auth_sessions_row_ends_only_the_proxy_session_holding_it() {
    let rig = rig().await;
    let email = "db-signout@example.com";
    let (mut laptop, user_id) = rig.signed_in(email).await;
    let mut phone = rig.signed_in_again(email, &user_id).await;
    let auth_sessions = rig.env.stub.auth_session_ids(&user_id);
    assert_eq!(
        auth_sessions.len(),
        2,
        "oldest first: the laptop's, the phone's"
    );

    let ended = rig.one_call(&format!(
        "delete from auth.sessions where id = '{}'",
        auth_sessions[0]
    ));
    assert_eq!(ended.change(), ("DELETE".into(), "sessions".into()));
    assert_eq!(
        ended.payload()["old_record"]["id"],
        auth_sessions[0].as_str()
    );
    assert_eq!(ended.deliver().await.0, 200);
    assert_eq!(session_user(&mut laptop).await, Value::Null);
    assert_eq!(session_user(&mut phone).await["id"], user_id.as_str());
}

#[tokio::test]
async fn deleting_a_user_in_the_database_ends_all_their_sessions() {
    let rig = rig().await;
    let email = "db-delete@example.com";
    let (mut laptop, user_id) = rig.signed_in(email).await;
    let mut phone = rig.signed_in_again(email, &user_id).await;
    let (mut other, _) = rig.signed_in("db-delete-other@example.com").await;

    // Auth's rows go: the user's, and by the cascade their sessions'.
    rig.db
        .sql(&format!("delete from auth.users where id = '{user_id}'"));
    rig.env.stub.delete_user(&user_id);
    let calls = recorded_calls(&rig.db);
    let mut changes: Vec<(String, String)> = calls.iter().map(Recorded::change).collect();
    changes.sort();
    let delete = |table: &str| ("DELETE".to_string(), table.to_string());
    assert_eq!(
        changes,
        [delete("sessions"), delete("sessions"), delete("users")]
    );
    // The user's deletion alone ends every session; the cascade's calls
    // that follow find nothing left to end.
    let (users, sessions): (Vec<_>, Vec<_>) = calls
        .iter()
        .partition(|call| call.change() == delete("users"));
    let (status, answer) = users[0].deliver().await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(session_user(&mut laptop).await, Value::Null);
    assert_eq!(session_user(&mut phone).await, Value::Null);
    for call in sessions {
        let (status, answer) = call.deliver().await;
        assert_eq!(status, 200, "{answer}");
    }
    assert_eq!(session_user(&mut laptop).await, Value::Null);
    assert_eq!(session_user(&mut phone).await, Value::Null);
    assert!(
        session_user(&mut other).await.is_object(),
        "another user's session lives on"
    );

    // Auth's soft deletion (deleted_at set, the row kept) ends them too.
    let other_id = session_user(&mut other).await["id"].clone();
    let soft = rig.one_call(&format!(
        "update auth.users set deleted_at = now(), email = null where id = '{}'",
        other_id.as_str().unwrap()
    ));
    assert_eq!(soft.deliver().await.0, 200);
    assert_eq!(session_user(&mut other).await, Value::Null);
}
