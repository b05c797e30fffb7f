//! The `supabase-stub` binary: one JSON line on stdout, flags applied,
//! clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Starts the binary with these arguments and environment; returns it and its start line.
fn spawn(args: &[&str], env: &[(&str, &str)]) -> (std::process::Child, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_supabase-stub"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("one line");
    (child, serde_json::from_str(&line).expect("JSON line"))
}

/// The headers of an anonymous sign-up that accepts gzip.
async fn anonymous_signup_headers(started: &Value) -> http::HeaderMap {
    let url = started["url"].as_str().expect("url");
    let request = http::Request::post(format!("{url}/auth/v1/signup"))
        .header("apikey", started["anon_key"].as_str().expect("anon key"))
        .header("accept-encoding", "gzip")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
        .expect("request");
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.expect("answer");
    assert_eq!(response.status(), http::StatusCode::OK);
    response.headers().clone()
}

#[tokio::test]
async fn compress_and_legacy_cookie_switches() {
    let (mut plain, started) = spawn(&["--no-legacy-cookies"], &[("SBP_STUB_COMPRESS", "0")]);
    let headers = anonymous_signup_headers(&started).await;
    assert!(headers.get("content-encoding").is_none());
    assert!(headers.get("set-cookie").is_none());
    plain.kill().expect("kill");
    plain.wait().expect("reaped");

    let (mut by_env, started) = spawn(&[], &[("SBP_STUB_COMPRESS", "1")]);
    let headers = anonymous_signup_headers(&started).await;
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers.get_all("set-cookie").iter().count(), 2);
    by_env.kill().expect("kill");
    by_env.wait().expect("reaped");

    let (mut by_flag, started) = spawn(&["--compress"], &[]);
    let headers = anonymous_signup_headers(&started).await;
    assert_eq!(headers["content-encoding"], "gzip");
    by_flag.kill().expect("kill");
    by_flag.wait().expect("reaped");
}

#[tokio::test]
async fn binary_prints_its_keys_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_supabase-stub"))
        .args([
            "--port",
            "0",
            "--token-ttl",
            "60",
            "--no-autoconfirm",
            "--jwt-secret",
            "a-test-secret-that-is-long-enough-32",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("one line");
    let started: Value = serde_json::from_str(&line).expect("JSON line");
    assert_eq!(
        started["jwt_secret"],
        "a-test-secret-that-is-long-enough-32"
    );
    let url = started["url"].as_str().expect("url");
    assert!(url.starts_with("http://127.0.0.1:"));

    let request = http::Request::get(format!("{url}/auth/v1/settings"))
        .header("apikey", started["anon_key"].as_str().expect("anon key"))
        .body(Empty::<bytes::Bytes>::new())
        .expect("request");
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.expect("answer");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let settings: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(settings["mailer_autoconfirm"], false);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    assert!(
        child.wait().expect("exits").success(),
        "clean exit on SIGTERM"
    );
}
