//! Fuzzing entries, one per parser that reads input the proxy does not
//! control. The cargo-fuzz targets in `fuzz/fuzz_targets` call them
//! (`scripts/fuzz.sh` runs them), and `cargo test` replays the committed
//! corpus and the fixed crash inputs through them (`tests/replay.rs`).
//!
//! Each entry takes the fuzzer's raw bytes, drives the parser the way the
//! runtime does, and checks cheap invariants with `assert!`: a panic, a
//! failed invariant or an allocation over the fuzzer's limit is a crash.
//! Inputs with several fields are read as text (lossily: invalid UTF-8
//! becomes U+FFFD) split at `\n`, so a seed corpus is readable; a missing
//! field takes a neutral default. The format is given on each entry.

use http::Method;
use sbp_core::auth::{
    BrowserBody, SECRET_FIELDS, SignIn, browser_body, browser_token_response, carries_token,
    read_token_response, upstream_cookie_allowed,
};
use sbp_core::config::{
    Config, ConfigSource, Origin, UpstreamUrl, parse_duration, parse_rate_limit, parse_size,
};
use sbp_core::env::RandomSource;
use sbp_core::guard::{Bucket, CsrfVerdict, TrustedProxies, check_csrf, client_ip, is_unsafe};
use sbp_core::http::{decode_body, find_session_secret, has_cookie, set_cookie, strip_cookie};
use sbp_core::realtime::{Channels, ClientFrame, PUSH_REF_PREFIX, ServerFrame};
use sbp_core::route::{Route, Service, classify, query_param, takes_secrets};
use sbp_core::session::{NewSession, Session, SessionSecret, UpstreamTokens};
use sbp_core::token::{PlaceholderKey, effective_margin, needs_refresh, read_claims, usable};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

/// A fixed "now" for entries that need a clock.
const NOW: i64 = 1_700_000_000;

/// A deterministic random source: fuzzing needs reproducible runs.
struct Fixed;
impl RandomSource for Fixed {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(7);
    }
}

fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Cookie parsing. Line 1: the proxy's cookie name; each further line: one
/// `Cookie` header.
///
/// Checks: a secret is found only when the cookie is present; a secret's
/// cookie value is canonical (one value per secret); `strip_cookie` never
/// forwards a cookie of that name and grows its input at most twofold; a
/// `Set-Cookie` the proxy builds is found again when the browser sends it
/// back.
pub fn cookie(data: &[u8]) {
    let text = text(data);
    let mut lines = text.split('\n');
    let name = lines.next().unwrap_or_default();
    let headers: Vec<&str> = lines.collect();

    let secret = find_session_secret(headers.iter().copied(), name);
    let present = has_cookie(headers.iter().copied(), name);
    assert!(secret.is_none() || present, "secret found but no cookie");

    let joined = headers.join("; ");
    for header in headers.iter().copied().chain([joined.as_str()]) {
        if let Some(s) = SessionSecret::from_cookie_value(header) {
            assert_eq!(s.cookie_value(), header, "two cookie values for one secret");
        }
        if let Some(kept) = strip_cookie(header, name) {
            assert!(
                !has_cookie([kept.as_str()], name),
                "strip_cookie kept `{name}`"
            );
            assert!(
                kept.len() <= 2 * header.len(),
                "strip_cookie grew its input"
            );
        }
    }

    // The browser sends back what `set_cookie` set, for any name the
    // configuration accepts.
    let secret = secret.unwrap_or_else(|| SessionSecret::generate(&Fixed));
    if accepted_cookie_name(name) {
        let set = set_cookie(name, &secret, 3600, true);
        let pair = set.split(';').next().unwrap_or_default();
        assert_eq!(find_session_secret([pair], name), Some(secret), "{set}");
    }
}

/// Whether the configuration accepts `name` as the cookie name.
fn accepted_cookie_name(name: &str) -> bool {
    let source: HashMap<String, String> = [
        ("SUPABASE_URL", "https://abc.supabase.co"),
        ("SUPABASE_ANON_KEY", "anon"),
        ("PROXY_PUBLIC_URL", "https://app.example.com"),
        ("PROXY_COOKIE_NAME", name),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Config::load(&source).is_ok_and(|c| c.cookie_name == name)
}

/// Route classification. Line 1: the method; line 2: the path; line 3 (if
/// present): the query; line 4: the base path of `PROXY_PUBLIC_URL`.
///
/// Checks: the classified path is a suffix of the input path (or `/` for the
/// base path itself); classifying it again at the root gives the same route;
/// forwarded paths are under their service; a revoked session id is one
/// segment; rate-limited calls are Auth calls; query parameters are never
/// longer than the query.
pub fn route(data: &[u8]) {
    let text = text(data);
    let mut lines = text.split('\n');
    let method =
        Method::from_bytes(lines.next().unwrap_or_default().as_bytes()).unwrap_or(Method::GET);
    let path = lines.next().unwrap_or("/");
    let query = lines.next();
    let base = lines.next().unwrap_or_default();

    let c = classify(&method, path, query, base);
    assert!(
        c.path == "/" || path.ends_with(c.path),
        "{:?} not a suffix",
        c.path
    );
    assert_eq!(
        classify(&method, c.path, query, "").route,
        c.route,
        "base stripped twice"
    );
    match &c.route {
        Route::Forward(service) => {
            let prefix = match service {
                Service::Auth => "/auth/v1",
                Service::Rest => "/rest/v1",
                Service::Storage => "/storage/v1",
                Service::Functions => "/functions/v1",
                Service::Graphql => "/graphql/v1",
                Service::Realtime => "/realtime/v1",
            };
            assert!(c.path.starts_with(prefix), "{service:?} for {:?}", c.path);
        }
        Route::RevokeSession(id) => {
            assert!(!id.is_empty() && !id.contains('/'), "session id {id:?}");
            assert_eq!(c.path, format!("/edge/v1/sessions/{id}"));
        }
        _ => {}
    }
    if takes_secrets(c.path, query) {
        assert!(
            matches!(c.route, Route::SignIn | Route::Forward(Service::Auth)),
            "rate-limited {:?} routed to {:?}",
            c.path,
            c.route
        );
    }
    for name in ["grant_type", "scope"] {
        if let Some(value) = query_param(query, name) {
            assert!(value.len() <= query.unwrap_or_default().len());
        }
    }
}

/// The Auth-response interceptor. The whole input is the body of Auth's
/// answer to a sign-in.
///
/// Checks, for a token response: the browser's body is JSON with exactly the
/// placeholders at the top level and no secret field anywhere else; neither
/// upstream token (8 bytes or longer) appears anywhere in it; the refresh
/// policy and the session model accept the token's times.
pub fn auth_response(data: &[u8]) {
    if let Some(sign_in) = read_token_response(data) {
        check_sign_in(&sign_in);
    }
}

/// Any Auth answer the proxy reads. Byte 1 picks the `Content-Encoding`
/// (identity, gzip, deflate, br, zstd) and byte 2 the status and
/// `Content-Type`; the rest is the body as it arrived.
///
/// Checks: decoding never yields more than its limit; what the browser may
/// get carries no token (a scrubbed body is JSON without a secret field at
/// any depth; an unchanged one has no JWT, and no token at all unless it is
/// JSON); a redirect has no body; a cookie allowed on an Auth answer
/// carries no token.
pub fn auth_answer(data: &[u8]) {
    const LIMIT: usize = 64 << 10;
    let (coding, kind, body) = match data {
        [c, k, body @ ..] => (*c, *k, body),
        _ => return,
    };
    let coding = ["identity", "gzip", "deflate", "br", "zstd"][usize::from(coding) % 5];
    let Ok(decoded) = decode_body(coding, body, LIMIT) else {
        return;
    };
    assert!(decoded.len() <= LIMIT, "decoded past the limit");
    let status = [200, 302, 400, 403][usize::from(kind) % 4];
    let content_type =
        [None, Some("application/json"), Some("text/html")][usize::from(kind / 4) % 3];
    match browser_body(status, content_type, &decoded) {
        Ok(BrowserBody::Empty) => assert!((300..400).contains(&status)),
        Ok(BrowserBody::Scrubbed(clean)) => {
            let value: Value = serde_json::from_slice(&clean).expect("a scrubbed body is JSON");
            assert!(
                !has_secret_field(&value),
                "a secret field survived scrubbing"
            );
        }
        Ok(BrowserBody::Unchanged) => {
            let is_json = serde_json::from_slice::<Value>(&decoded).is_ok();
            assert!(is_json || !carries_token(&decoded), "a token was relayed");
        }
        Err(_) => {}
    }
    let cookie = text(&decoded);
    if upstream_cookie_allowed(&cookie, "sb-session", true) {
        assert!(
            !carries_token(cookie.as_bytes()),
            "a cookie carrying a token was allowed"
        );
    }
}

fn has_secret_field(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| SECRET_FIELDS.contains(&k.as_str()) || has_secret_field(v)),
        Value::Array(items) => items.iter().any(has_secret_field),
        _ => false,
    }
}

/// The claims of Auth's access token. The whole input is the JWT's payload
/// (the fuzzer can hardly write valid base64url JSON itself): it is encoded
/// into a token, read with `read_claims`, and sent through the interceptor
/// in a minimal token response.
///
/// Checks: `exp` and `sub` are read as written; then as [`auth_response`].
pub fn token_claims(data: &[u8]) {
    use base64::Engine;
    use sha2::Digest;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data);
    let token = format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{payload}.c2lnbmF0dXJl");
    let Some(claims) = read_claims(&token) else {
        return;
    };
    assert_eq!(
        claims.all.get("exp").and_then(Value::as_i64),
        Some(claims.exp)
    );
    assert_eq!(
        claims.all.get("sub").and_then(Value::as_str),
        Some(claims.sub.as_str())
    );
    let body = serde_json::json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": 3600,
        // A refresh token the claims cannot contain (a digest of them).
        "refresh_token": format!("{:x}", sha2::Sha256::digest(data)),
        "user": claims.all.get("user_metadata").cloned().unwrap_or_default(),
    });
    let sign_in = read_token_response(body.to_string().as_bytes());
    check_sign_in(&sign_in.expect("a token response with readable claims is a sign-in"));
}

/// What the runtime does with a sign-in (`pipeline/sign_in.rs`), checked.
fn check_sign_in(sign_in: &SignIn) {
    let (access, expires_at) = PlaceholderKey::generate(&Fixed).sign(&sign_in.claims.all, NOW);
    let refresh = "placeholder-refresh";
    let body = browser_token_response(
        &sign_in.body,
        &sign_in.user,
        &access,
        expires_at,
        refresh,
        NOW,
    );
    let Ok(Value::Object(mut out)) = serde_json::from_slice::<Value>(&body) else {
        panic!("the browser's body is not a JSON object");
    };
    assert_eq!(out.remove("access_token"), Some(Value::from(access)));
    assert_eq!(out.remove("refresh_token"), Some(Value::from(refresh)));
    let secrets = [&sign_in.tokens.access_token, &sign_in.tokens.refresh_token];
    assert_no_secret(&Value::Object(out), &secrets);

    let tokens = &sign_in.tokens;
    // Every margin the configuration accepts.
    for margin in [0, 60, i64::MAX as u64] {
        let m = effective_margin(tokens, margin);
        assert!(m >= 0 && m <= margin as i64, "margin {m} for {margin}");
        needs_refresh(tokens, NOW, margin);
    }
    usable(tokens, NOW);
    let session = Session::new(
        NewSession {
            id: "fuzz".into(),
            user_id: sign_in.claims.sub.clone(),
            user: sign_in.user.clone().into(),
            auth_session_id: sign_in.claims.session_id.clone(),
            tokens: sign_in.tokens.clone(),
            ip: None,
            user_agent: None,
            country: None,
        },
        NOW,
        30 * 86_400,
        7 * 86_400,
    );
    let stored = Session::from_bytes(&session.to_bytes()).expect("a stored session reads back");
    assert_eq!(stored.tokens, session.tokens);
}

/// Panics when a secret field name, or an upstream token, appears in `value`.
fn assert_no_secret(value: &Value, tokens: &[&String]) {
    let leaks = |s: &str| {
        tokens
            .iter()
            .any(|t| t.len() >= 8 && s.contains(t.as_str()))
    };
    match value {
        Value::String(s) => assert!(!leaks(s), "a token reached the browser: {s:?}"),
        Value::Array(items) => items.iter().for_each(|v| assert_no_secret(v, tokens)),
        Value::Object(map) => {
            for (k, v) in map {
                assert!(
                    !SECRET_FIELDS.contains(&k.as_str()) && !leaks(k),
                    "secret field {k:?} reached the browser"
                );
                assert_no_secret(v, tokens);
            }
        }
        _ => {}
    }
}

/// The TOML config file (`sb-cookie-proxy --config`): the whole input is
/// the file, parsed by the server, then loaded and checked like the
/// environment ([`config_source`]).
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(settings) = sb_cookie_proxy::config::parse_toml(text) {
        config_source(&settings);
    }
}

/// Configuration from the environment. Each line: `KEY=VALUE` (a key may be
/// given in lower case; a line without `=` is ignored). Also parses every
/// value as a duration and a size.
///
/// See [`config_source`] for the checks.
pub fn config(data: &[u8]) {
    let text = text(data);
    let mut source = HashMap::new();
    for line in text.split('\n') {
        if let Some((key, value)) = line.split_once('=') {
            source.insert(key.trim().to_ascii_uppercase(), value.to_string());
        }
        for value in [line, line.split_once('=').map_or("", |(_, v)| v)] {
            if let Ok(n) = parse_duration(value) {
                assert_eq!(parse_duration(&format!("{n}s")), Ok(n));
            }
            if let Ok(n) = parse_size(value) {
                assert_eq!(parse_size(&n.to_string()), Ok(n));
            }
        }
    }
    config_source(&source);
}

/// Loads a configuration from `source` (also used by the TOML target, which
/// parses a file into such a map first).
///
/// Checks, for a valid configuration: the cookie name is the one given (or
/// the default); every URL, origin, rate and address round-trips through its
/// own parser; durations read the same as `parse_duration` says; the
/// defaults hold where nothing was given; and the values the runtime derives
/// from the configuration (a `Set-Cookie`, a session, a refresh margin) are
/// computed without panicking.
pub fn config_source(source: &HashMap<String, String>) {
    let Ok(c) = Config::load(source) else {
        return;
    };
    let given = |key: &str| {
        ConfigSource::get(source, key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if let Some(name) = given("PROXY_COOKIE_NAME") {
        assert_eq!(c.cookie_name, name);
    }
    for (key, value) in [
        ("PROXY_SESSION_TTL", c.session_ttl),
        ("PROXY_SESSION_IDLE_TTL", c.session_idle_ttl),
        ("PROXY_MINT_TTL", c.mint_ttl),
        ("PROXY_REFRESH_MARGIN", c.refresh_margin),
    ] {
        if let Some(text) = given(key) {
            assert_eq!(parse_duration(&text), Ok(value), "{key}");
        }
        assert!(
            i64::try_from(value).is_ok(),
            "{key} = {value}s overflows a time"
        );
    }
    if given("PROXY_ALLOWED_ORIGINS").is_none() {
        assert!(c.origin_allowed(c.public_url.origin().as_str()));
    }
    for origin in c.allowed_origins.iter().chain([c.public_url.origin()]) {
        assert_eq!(Origin::parse(origin.as_str()).as_ref(), Ok(origin));
        assert!(origin.matches(origin.as_str()));
    }
    let base = c.public_url.base_path();
    assert!(
        base.is_empty() || (base.starts_with('/') && !base.ends_with('/')),
        "{base:?}"
    );
    let upstream = UpstreamUrl::parse(&c.supabase_url.join(""));
    assert_eq!(upstream.as_ref(), Ok(&c.supabase_url));
    assert_eq!(c.listen.to_string().parse().ok(), Some(c.listen));
    if let Some(rate) = c.auth_rate_limit {
        let text = format!("{}/{}s", rate.burst, rate.period);
        assert_eq!(parse_rate_limit(&text), Ok(rate));
    }
    assert!(c.limits.max_header_bytes >= 8192 && c.limits.max_url_bytes >= 256);

    // What the runtime derives from it.
    let secret = SessionSecret::generate(&Fixed);
    let set = set_cookie(&c.cookie_name, &secret, c.session_ttl, c.secure_cookie());
    assert!(!set.contains("Max-Age=-"), "{set}");
    let pair = set.split(';').next().unwrap_or_default();
    assert_eq!(find_session_secret([pair], &c.cookie_name), Some(secret));
    let tokens = UpstreamTokens {
        access_token: String::new(),
        refresh_token: String::new(),
        issued_at: NOW,
        expires_at: NOW + 3600,
    };
    needs_refresh(&tokens, NOW, c.refresh_margin);
    let mut session = Session::new(
        NewSession {
            id: "fuzz".into(),
            user_id: "fuzz".into(),
            user: Value::Null.into(),
            auth_session_id: None,
            tokens,
            ip: None,
            user_agent: None,
            country: None,
        },
        NOW,
        c.session_ttl,
        c.session_idle_ttl,
    );
    assert!(!session.is_expired(NOW), "a new session has expired");
    session.touch(NOW + 60, c.session_idle_ttl);
    assert!(
        !session.is_expired(NOW + 60),
        "a session used now has expired"
    );
}

/// The request guards. Lines: 1 trusted proxies (`PROXY_TRUSTED_PROXIES`),
/// 2 the peer address, 3 `X-Forwarded-For`, 4 the method, 5 `Origin`
/// (absent when empty), 6 `Referer` (absent when empty), 7 the allowed
/// origins (comma list), 8 a rate (`PROXY_AUTH_RATE_LIMIT`), 9 a time step in
/// milliseconds.
///
/// Checks: the client is the peer unless the peer is trusted, and otherwise
/// one of the forwarded hops; safe methods and cookie-less, non-sign-in
/// requests always pass CSRF, others pass only with an allowed `Origin` or
/// `Referer`; a rate limit refuses with a wait of at least a second.
pub fn guard(data: &[u8]) {
    let text = text(data);
    let mut lines = text.split('\n');
    let mut next = || lines.next().unwrap_or_default();
    let trusted = TrustedProxies::parse(next()).unwrap_or_default();
    let peer: IpAddr = next().trim().parse().unwrap_or([10, 0, 0, 1].into());
    let forwarded = next();
    let method = Method::from_bytes(next().as_bytes()).unwrap_or(Method::POST);
    let origin = Some(next()).filter(|s| !s.is_empty());
    let referer = Some(next()).filter(|s| !s.is_empty());
    let allowed: Vec<Origin> = next()
        .split(',')
        .filter_map(|o| Origin::parse(o).ok())
        .collect();
    let rate = parse_rate_limit(next());
    let step: u64 = next().trim().parse().unwrap_or(1000);

    let client = client_ip(peer, [forwarded], &trusted);
    if !trusted.contains(&peer) {
        assert_eq!(client, peer);
    } else if client != peer {
        let hops: Vec<IpAddr> = forwarded
            .split(',')
            .filter_map(|h| h.trim().parse().ok())
            .collect();
        assert!(hops.contains(&client), "{client} is not a hop");
    }

    for (cookie, sign_in) in [(false, false), (true, false), (false, true)] {
        let verdict = check_csrf(&method, cookie, sign_in, origin, referer, |o| {
            allowed.iter().any(|a| a.matches(o))
        });
        if !is_unsafe(&method) || !(cookie || sign_in) {
            assert_eq!(verdict, CsrfVerdict::Allowed);
        } else if verdict == CsrfVerdict::Allowed {
            let from_allowed = |o: &str| allowed.iter().any(|a| a.matches(o));
            match origin {
                Some(o) => assert!(from_allowed(o), "origin {o:?} let through"),
                None => assert!(referer.is_some(), "no origin nor referer let through"),
            }
        }
    }

    if let Ok(limit) = rate {
        assert!(limit.burst > 0 && limit.period > 0);
        let mut bucket = Bucket::full(limit, 0);
        let mut now = 0u64;
        for _ in 0..(limit.burst.min(64) + 2) {
            if let Err(wait) = bucket.take(limit, now) {
                assert!(wait >= 1);
            }
            now = now.saturating_add(step);
        }
        bucket.is_full(limit, now);
    }
}

/// The Realtime frame rewriter. Line 1: the session's token; each further
/// line: a text frame from the client, or from the server when it starts
/// with `S` (the rest of the line), or a new session token when it starts
/// with `T` (the rest of the line), which makes the proxy push it to every
/// tracked channel.
///
/// Frames are read here independently of the rewriter ([`Message`]). Checks:
/// a rewritten client frame is the same message (serializer, refs, topic,
/// event) whose payload has exactly one `access_token`, the session's, and
/// grows by no more than the token; a join or `access_token` message with an
/// object payload is never relayed unchanged (the client's own token would
/// reach Realtime); a joined topic is tracked; every push is an
/// `access_token` message for a tracked topic whose reply is dropped, and
/// only replies to the proxy's refs are dropped.
pub fn realtime(data: &[u8]) {
    let text = text(data);
    let mut lines = text.split('\n');
    let mut token = lines.next().unwrap_or_default().to_string();
    let mut channels = Channels::default();
    for line in lines {
        if let Some(frame) = line.strip_prefix('S') {
            if channels.on_server_text(frame) == ServerFrame::Drop {
                let m = Message::parse(frame).expect("a dropped frame is a message");
                assert_eq!(m.event, "phx_reply");
                assert!(m.msg_ref.is_some_and(|r| r.starts_with(PUSH_REF_PREFIX)));
            }
        } else if let Some(new_token) = line.strip_prefix('T') {
            token = new_token.to_string();
            let topics: Vec<String> = channels.topics().into_iter().map(str::to_string).collect();
            let pushes = channels.token_pushes(&token);
            assert_eq!(pushes.len(), topics.len());
            for push in &pushes {
                let m = Message::parse(push).expect("a push is a message");
                assert_eq!(m.event, "access_token");
                assert!(topics.contains(&m.topic), "push to {:?}", m.topic);
                assert_eq!(
                    single_token(m.payload.get()).as_deref(),
                    Some(token.as_str())
                );
                let reply = m.reply(r#"{"status":"ok","response":{}}"#);
                assert_eq!(
                    channels.on_server_text(&reply),
                    ServerFrame::Drop,
                    "{reply}"
                );
            }
        } else {
            client_frame(&mut channels, line, &token);
        }
    }
}

fn client_frame(channels: &mut Channels, text: &str, token: &str) {
    let before = Message::parse(text);
    match channels.on_client_text(text, Some(token)) {
        ClientFrame::Rewritten(out) => {
            let before = before.expect("a rewritten frame is a message");
            let after = Message::parse(&out).expect("a rewritten frame stays a message");
            assert_eq!(
                (
                    after.array,
                    &after.join_ref,
                    &after.msg_ref,
                    &after.topic,
                    &after.event
                ),
                (
                    before.array,
                    &before.join_ref,
                    &before.msg_ref,
                    &before.topic,
                    &before.event
                ),
            );
            assert_eq!(single_token(after.payload.get()).as_deref(), Some(token));
            let payload: serde_json::Map<String, Value> =
                serde_json::from_str(after.payload.get()).expect("an object payload");
            assert!(!payload.contains_key("user_token"), "{out}");
            let quoted = serde_json::to_string(token).unwrap_or_default();
            assert!(
                out.len() <= text.len() + quoted.len() + 32,
                "{text:?} grew to {out:?}"
            );
            if after.event == "phx_join" {
                assert!(
                    channels.topics().contains(&after.topic.as_str()),
                    "{:?} not tracked",
                    after.topic
                );
            }
        }
        ClientFrame::Unchanged => {
            if let Some(m) = before
                && matches!(m.event.as_str(), "phx_join" | "access_token")
            {
                let object =
                    serde_json::from_str::<serde_json::Map<String, Value>>(m.payload.get());
                assert!(
                    object.is_err(),
                    "{:?} relayed with the client's token: {text}",
                    m.event
                );
            }
        }
    }
}

/// A Phoenix message as Realtime's two serializers write it: vsn 2.0.0
/// `[join_ref, ref, topic, event, payload]`, vsn 1.0.0 an object with those
/// keys (each at most once, refs `null` or strings).
struct Message {
    array: bool,
    join_ref: Option<String>,
    msg_ref: Option<String>,
    topic: String,
    event: String,
    payload: Box<serde_json::value::RawValue>,
}

impl Message {
    fn parse(text: &str) -> Option<Message> {
        type Array = (
            Option<String>,
            Option<String>,
            String,
            String,
            Box<serde_json::value::RawValue>,
        );
        #[derive(serde::Deserialize)]
        struct Object {
            join_ref: Option<String>,
            #[serde(rename = "ref")]
            msg_ref: Option<String>,
            topic: String,
            event: String,
            payload: Box<serde_json::value::RawValue>,
        }
        if let Ok((join_ref, msg_ref, topic, event, payload)) = serde_json::from_str::<Array>(text)
        {
            return Some(Message {
                array: true,
                join_ref,
                msg_ref,
                topic,
                event,
                payload,
            });
        }
        let o: Object = serde_json::from_str(text).ok()?;
        Some(Message {
            array: false,
            join_ref: o.join_ref,
            msg_ref: o.msg_ref,
            topic: o.topic,
            event: o.event,
            payload: o.payload,
        })
    }

    /// The server's `phx_reply` to this message.
    fn reply(&self, payload: &str) -> String {
        let payload: Value = serde_json::from_str(payload).unwrap_or_default();
        let (join_ref, msg_ref, topic) = (&self.join_ref, &self.msg_ref, &self.topic);
        if self.array {
            serde_json::json!([join_ref, msg_ref, topic, "phx_reply", payload]).to_string()
        } else {
            serde_json::json!({"topic": topic, "event": "phx_reply", "payload": payload,
                               "ref": msg_ref, "join_ref": join_ref})
            .to_string()
        }
    }
}

/// The payload's `access_token` when it is a string and appears exactly once.
fn single_token(payload: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Payload {
        access_token: String,
    }
    serde_json::from_str::<Payload>(payload)
        .ok()
        .map(|p| p.access_token)
}
