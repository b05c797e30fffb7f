//! The binary's start-up: configuration errors, the TOML file, the demo.

use crate::support;

use support::{Browser, ProxyProcess, binary, exit_of};

#[test]
fn bad_configuration_exits_2_with_one_line_per_problem() {
    let mut command = binary();
    command
        .env_clear()
        .env("PROXY_LISTEN", "nowhere")
        .env("PROXY_SESSION_TTL", "10 years");
    let (code, stderr) = exit_of(command);
    assert_eq!(code, Some(2));
    for line in [
        "SUPABASE_URL: is required",
        "SUPABASE_ANON_KEY: is required",
        "PROXY_LISTEN: `nowhere` is not an address",
        "PROXY_SESSION_TTL: `10 years`",
    ] {
        assert!(
            stderr.lines().any(|l| l.starts_with(line)),
            "missing `{line}` in:\n{stderr}"
        );
    }
}

#[test]
fn a_toml_file_configures_the_proxy_and_the_environment_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proxy.toml");
    std::fs::write(
        &file,
        "SUPABASE_URL = \"http://127.0.0.1:9\"\nsupabase_anon_key = \"anon\"\nPROXY_LISTEN = \"not used\"\nPROXY_SESSION_STORE = \"memory:\"\n",
    )
    .unwrap();
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(
        &unknown,
        "SUPABASE_URL = \"http://127.0.0.1:9\"\ncolour = \"blue\"\n",
    )
    .unwrap();
    let mut command = binary();
    command.env_clear().arg("--config").arg(&unknown);
    let (code, stderr) = exit_of(command);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("colour: unknown setting"));

    let mut command = binary();
    command
        .env_clear()
        .env("PROXY_LISTEN", "127.0.0.1:0")
        .arg("--config")
        .arg(&file);
    let (proxy, printed) = ProxyProcess::spawn(command);
    // The first line it prints.
    let line = printed
        .into_iter()
        .next()
        .unwrap_or_else(|| proxy.listening_line.clone());
    proxy.kill();
    assert!(
        line.starts_with("sb-cookie-proxy listening on http://127.0.0.1:"),
        "{line}"
    );
}

/// The README's first command: `sb-cookie-proxy demo` on its embedded
/// store, in front of the stand-in Supabase, doing what it prints to try.
#[tokio::test]
async fn the_demo_signs_its_user_in_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    // Any free port, from a config file: the page origin follows it.
    std::fs::write(
        dir.path().join("demo.toml"),
        "PROXY_LISTEN = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let mut command = binary();
    command
        .env_clear()
        .env("RUST_LOG", "warn")
        .args(["demo", "--config", "demo.toml"])
        .current_dir(dir.path());
    let (demo, printed) = ProxyProcess::spawn(command);
    let (base, text) = (demo.base(), printed.join("\n"));
    assert!(text.contains("demo@example.com / demo-password"), "{text}");
    assert!(
        text.contains("Sessions are kept in: file ./data/sessions.redb"),
        "{text}"
    );
    // The page origin the demo allows is where it listens, port included.
    assert!(text.contains(&format!("-H 'origin: {base}'")), "{text}");

    let mut browser = Browser::new(&base, "not-needed", "sb-session");
    browser.origin = Some(base.clone());
    let signed_in = browser.sign_in("demo@example.com", "demo-password").await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());
    let cookie = signed_in.set_cookies().join("; ");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let who = browser.get("/edge/v1/session").await;
    assert_eq!(who.status, 200, "{}", who.text());
    assert_eq!(who.json()["user"]["email"], "demo@example.com");
    assert_eq!(browser.get("/rest/v1/todos").await.status, 200);
    assert!(dir.path().join("data/sessions.redb").is_file());
    demo.kill();
}

/// A misspelt variable or TOML key is named with the known one it is
/// closest to; the Supabase CLI's own variables are left alone.
#[test]
fn unknown_settings_are_named_with_the_closest_known_one() {
    let mut command = binary();
    command
        .env_clear()
        .env("PROXY_SESION_STORE", "memory:")
        .env("SUPABASE_ACCESS_TOKEN", "sbp_cli_token")
        .env("SUPABASE_URL", "http://127.0.0.1:9");
    let (code, stderr) = exit_of(command);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("PROXY_SESION_STORE: unknown setting; did you mean PROXY_SESSION_STORE?"),
        "{stderr}"
    );
    assert!(!stderr.contains("SUPABASE_ACCESS_TOKEN"), "{stderr}");
    assert!(
        stderr.contains("SUPABASE_ANON_KEY: is required"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proxy.toml");
    std::fs::write(
        &file,
        "SUPABASE_URL = \"http://127.0.0.1:9\"\nsupabase_anon_ky = \"anon\"\n",
    )
    .unwrap();
    let mut command = binary();
    command.env_clear().arg("--config").arg(&file);
    let (code, stderr) = exit_of(command);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("supabase_anon_ky: unknown setting; did you mean SUPABASE_ANON_KEY?"),
        "{stderr}"
    );
}
