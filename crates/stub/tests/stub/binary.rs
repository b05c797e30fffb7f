//! The `supabase-stub` binary: one JSON line on stdout, flags applied,
//! clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

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
