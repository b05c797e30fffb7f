//! `sb-cookie-proxy check`, the real binary against the stand-in Supabase:
//! every probe passing (legacy and publishable keys, file store, mint
//! mode with the JWT secret or an imported key), and each failure named
//! with its fix and exit code 1: a wrong anon key, an unreachable or silent
//! project, REST down behind the gateway, an untrusted certificate, a
//! wrong JWT secret or an untrusted signing key, Redis down; a
//! misspelt variable is a warning; a configuration that cannot be loaded
//! exits 2.

use crate::support;

use sbp_stub::{CannedAnswer, Stub, StubConfig, TestCa};
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};
use support::{Run, run, settings_for};

const WRONG_KEY: &str = "SUPABASE_ANON_KEY is not this project's key";
/// The probes' network lines, in the order printed.
const NETWORK: [&str; 4] = ["auth /health", "auth /settings", "rest", "realtime"];

/// Runs `check` with exactly `settings` as its environment.
async fn check(settings: &HashMap<String, String>) -> Run {
    run(settings, &["check"]).await
}

/// The line of `probe`; fails the test when there is none.
fn line<'a>(run: &'a Run, probe: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| {
            l.get(5..)
                .is_some_and(|rest| rest.starts_with(&format!("{probe} ")))
        })
        .unwrap_or_else(|| panic!("no `{probe}` line in:\n{}{}", run.stdout, run.stderr))
}

fn passed(run: &Run, probe: &str) -> bool {
    line(run, probe).starts_with("ok   ")
}

/// Asserts `probe` failed saying `says`.
fn failed_saying(run: &Run, probe: &str, says: &str) {
    let line = line(run, probe);
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains(says), "`{says}` not in: {line}");
}

fn with(stub: &Stub, extra: &[(&'static str, &str)]) -> HashMap<String, String> {
    settings_for(
        stub,
        extra.iter().map(|(k, v)| (*k, v.to_string())).collect(),
    )
}

#[tokio::test]
async fn every_probe_passes_against_the_stand_in_with_one_line_each() {
    let stub = Stub::start(StubConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().join("sessions.redb").display());
    let settings = with(&stub, &[("PROXY_SESSION_STORE", &store)]);
    let checked = check(&settings).await;
    assert_eq!(
        checked.code,
        Some(0),
        "{}{}",
        checked.stdout,
        checked.stderr
    );
    let lines: Vec<&str> = checked.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", checked.stdout);
    for probe in [
        "config",
        "auth /health",
        "auth /settings",
        "rest",
        "realtime",
        "store",
    ] {
        assert!(passed(&checked, probe), "{}", checked.stdout);
    }
    assert!(line(&checked, "auth /health").contains("GoTrue"));
    assert!(line(&checked, "rest").ends_with(" ms)"));
    assert!(line(&checked, "store").contains("sessions.redb"));
    assert!(
        dir.path().join("sessions.redb").exists(),
        "opened as start-up does"
    );
    // What reached the stand-in: the anon key as `apikey`, never as a bearer.
    for path in ["/auth/v1/health", "/auth/v1/settings", "/rest/v1/"] {
        let seen = stub
            .recorded()
            .into_iter()
            .find(|r| r.path == path)
            .unwrap_or_else(|| panic!("{path} not probed"));
        assert_eq!(seen.headers["apikey"], stub.anon_key().as_str(), "{path}");
        assert!(seen.headers.get("authorization").is_none(), "{path}");
    }
    let socket = stub
        .recorded()
        .into_iter()
        .find(|r| r.path == "/realtime/v1/websocket")
        .expect("a Realtime upgrade");
    assert!(socket.query.unwrap().contains("vsn=1.0.0"));
    assert!(
        !checked.stdout.contains(&stub.anon_key()) && !checked.stderr.contains(&stub.anon_key()),
        "the key is never printed"
    );
}

#[tokio::test]
async fn a_publishable_key_passes_as_the_apikey_alone() {
    const KEY: &str = "sb_publishable_checkCheckCheckCheckChe_0a1b2c3d";
    let stub = Stub::start(StubConfig {
        publishable_key: Some(KEY.to_string()),
        ..StubConfig::default()
    })
    .await
    .unwrap();
    let checked = check(&with(&stub, &[("SUPABASE_ANON_KEY", KEY)])).await;
    assert_eq!(checked.code, Some(0), "{}", checked.stdout);
    for probe in NETWORK {
        assert!(passed(&checked, probe), "{}", checked.stdout);
    }
}

#[tokio::test]
async fn a_wrong_anon_key_fails_every_service_naming_the_setting() {
    let stub = Stub::start(StubConfig::default()).await.unwrap();
    let checked = check(&with(
        &stub,
        &[("SUPABASE_ANON_KEY", "not-this-projects-key")],
    ))
    .await;
    assert_eq!(checked.code, Some(1), "{}", checked.stdout);
    failed_saying(
        &checked,
        "auth /health",
        "Auth refused the API key (401 Invalid API key)",
    );
    for probe in NETWORK {
        failed_saying(&checked, probe, WRONG_KEY);
    }
    assert!(
        passed(&checked, "store"),
        "the store is not the key's business"
    );
    assert!(
        !checked.stdout.contains("not-this-projects-key"),
        "{}",
        checked.stdout
    );
}

#[tokio::test]
async fn an_unreachable_project_fails_at_once_and_a_silent_one_within_the_time_limit() {
    let stub = Stub::start(StubConfig::default()).await.unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}");
    let redis = format!("redis://:hunter2hunter2@127.0.0.1:{port}/0");
    let settings = with(
        &stub,
        &[("SUPABASE_URL", &url), ("PROXY_SESSION_STORE", &redis)],
    );
    let started = Instant::now();
    let checked = check(&settings).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(checked.code, Some(1), "{}", checked.stdout);
    for probe in NETWORK {
        failed_saying(&checked, probe, "Connection refused");
        failed_saying(&checked, probe, "check SUPABASE_URL's host and port");
    }
    failed_saying(&checked, "store", "check PROXY_SESSION_STORE");
    assert!(!checked.stdout.contains("hunter2"), "{}", checked.stdout);

    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let started = Instant::now();
    let checked = check(&with(&stub, &[("SUPABASE_URL", &url)])).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(9),
        "the probes wait 5 s, together: {took:?}"
    );
    assert_eq!(checked.code, Some(1), "{}", checked.stdout);
    for probe in NETWORK {
        failed_saying(&checked, probe, "no answer within 5 s; check SUPABASE_URL");
    }
    held.abort();
}

#[tokio::test]
async fn rest_down_behind_the_gateway_fails_the_rest_line_only() {
    let stub = Stub::start(StubConfig::default()).await.unwrap();
    stub.faults()
        .set_rest_answer(Some(CannedAnswer::html_page(503)));
    let checked = check(&with(&stub, &[])).await;
    assert_eq!(checked.code, Some(1), "{}", checked.stdout);
    failed_saying(
        &checked,
        "rest",
        "REST answered 503 (an HTML page); the project may be paused",
    );
    for probe in ["auth /health", "auth /settings", "realtime"] {
        assert!(passed(&checked, probe), "{}", checked.stdout);
    }
}

#[tokio::test]
async fn a_private_ca_is_needed_for_its_certificate_and_then_suffices() {
    let ca = TestCa::generate().unwrap();
    let stub = Stub::start_tls(StubConfig::default(), &ca).await.unwrap();
    let untrusted = check(&with(&stub, &[])).await;
    assert_eq!(untrusted.code, Some(1), "{}", untrusted.stdout);
    for probe in NETWORK {
        failed_saying(&untrusted, probe, "needs PROXY_UPSTREAM_CA");
    }
    let mut pem = tempfile::NamedTempFile::new().unwrap();
    pem.write_all(ca.pem().as_bytes()).unwrap();
    let path = pem.path().display().to_string();
    let trusted = check(&with(&stub, &[("PROXY_UPSTREAM_CA", &path)])).await;
    assert_eq!(trusted.code, Some(0), "{}", trusted.stdout);
}

#[tokio::test]
async fn mint_mode_shows_a_minted_token_to_auth() {
    let stub = Stub::start(StubConfig::default()).await.unwrap();
    let secret = stub.jwt_secret();
    let right = with(
        &stub,
        &[
            ("PROXY_TOKEN_MODE", "mint"),
            ("SUPABASE_JWT_SECRET", &secret),
        ],
    );
    let checked = check(&right).await;
    assert_eq!(checked.code, Some(0), "{}", checked.stdout);
    assert!(passed(&checked, "mint"), "{}", checked.stdout);
    assert!(line(&checked, "mint").contains("Auth accepts minted tokens"));
    let shown = stub
        .recorded()
        .into_iter()
        .find(|r| r.path == "/auth/v1/user")
        .expect("a minted token shown to Auth");
    let bearer = shown.headers["authorization"].to_str().unwrap();
    let claims = support::jwt_claims(bearer.strip_prefix("Bearer ").unwrap());
    assert_eq!(claims["sub"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(claims["role"], "authenticated");

    let wrong = with(
        &stub,
        &[
            ("PROXY_TOKEN_MODE", "mint"),
            (
                "SUPABASE_JWT_SECRET",
                "not-the-projects-secret-but-long-enough",
            ),
        ],
    );
    let checked = check(&wrong).await;
    assert_eq!(checked.code, Some(1), "{}", checked.stdout);
    failed_saying(
        &checked,
        "mint",
        "SUPABASE_JWT_SECRET is not this project's JWT secret",
    );
    assert!(passed(&checked, "auth /health"), "{}", checked.stdout);
    assert!(
        !checked.stdout.contains("not-the-projects-secret"),
        "{}",
        checked.stdout
    );
}

#[tokio::test]
async fn a_misspelt_variable_is_a_warning_naming_the_closest_name() {
    let stub = Stub::start(StubConfig::default()).await.unwrap();
    let checked = check(&with(&stub, &[("PROXY_SESION_TTL", "1h")])).await;
    assert_eq!(
        checked.code,
        Some(0),
        "a warning is no failure: {}",
        checked.stdout
    );
    let warning = line(&checked, "config");
    assert_eq!(
        warning,
        "warn config          PROXY_SESION_TTL: unknown setting; did you mean PROXY_SESSION_TTL? (ignored)"
    );
    assert!(
        !checked.stderr.contains("PROXY_SESION_TTL"),
        "said once, on stdout: {}",
        checked.stderr
    );
}

#[tokio::test]
async fn a_configuration_that_cannot_be_loaded_exits_2_naming_each_problem() {
    let settings: HashMap<String, String> = [
        ("SUPABASE_URL", "ftp://example.com"),
        ("PROXY_SESSION_TTL", "10 years"),
        ("SUPABASE_ANON_KY", "anon"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let checked = check(&settings).await;
    assert_eq!(
        checked.code,
        Some(2),
        "{}{}",
        checked.stdout,
        checked.stderr
    );
    let lines: Vec<&str> = checked.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "warn config          SUPABASE_ANON_KY: unknown setting; did you mean SUPABASE_ANON_KEY? (ignored)"
    );
    for problem in [
        "FAIL config          SUPABASE_URL: `ftp://example.com` must start with http:// or https://",
        "FAIL config          SUPABASE_ANON_KEY: is required",
        "FAIL config          PROXY_SESSION_TTL: `10 years`",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(problem)),
            "no `{problem}` in:\n{}",
            checked.stdout
        );
    }
    assert!(
        !checked.stdout.contains("auth /health"),
        "nothing is probed"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proxy.toml");
    std::fs::write(
        &file,
        "SUPABASE_URL = \"http://127.0.0.1:9\"\ncolour = \"blue\"\n",
    )
    .unwrap();
    let file = file.display().to_string();
    let checked = run(&HashMap::new(), &["check", "--config", &file]).await;
    assert_eq!(checked.code, Some(2), "{}", checked.stdout);
    assert!(
        checked.stdout.contains("colour: unknown setting"),
        "{}",
        checked.stdout
    );
}

#[tokio::test]
async fn mint_mode_with_an_imported_key_passes_only_where_the_project_trusts_it() {
    use base64::Engine;
    let d = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
    let private = serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "check-key", "d": d});
    let key = sbp_core::token::MintKey::from_private_key(&private.to_string(), None).unwrap();
    let public = serde_json::from_value(key.jwks()["keys"][0].clone()).unwrap();
    let private = private.to_string();
    let mint = [
        ("PROXY_TOKEN_MODE", "mint"),
        ("PROXY_JWT_PRIVATE_KEY", private.as_str()),
    ];

    let trusting = Stub::start(StubConfig {
        trusted_jwks: vec![public],
        ..StubConfig::default()
    })
    .await
    .unwrap();
    let checked = check(&with(&trusting, &mint)).await;
    assert_eq!(checked.code, Some(0), "{}", checked.stdout);
    assert!(passed(&checked, "mint"), "{}", checked.stdout);

    let other = Stub::start(StubConfig::default()).await.unwrap();
    let checked = check(&with(&other, &mint)).await;
    assert_eq!(checked.code, Some(1), "{}", checked.stdout);
    failed_saying(
        &checked,
        "mint",
        "the project does not trust PROXY_JWT_PRIVATE_KEY",
    );
}
