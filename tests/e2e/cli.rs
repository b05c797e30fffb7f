//! The binary's start-up: configuration errors, the TOML file.

mod support;

use support::binary;

#[test]
fn bad_configuration_exits_2_with_one_line_per_problem() {
    let output = binary()
        .env_clear()
        .env("PROXY_LISTEN", "nowhere")
        .env("PROXY_SESSION_TTL", "10 years")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
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
    let output = binary()
        .env_clear()
        .arg("--config")
        .arg(&unknown)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("colour: unknown setting"));

    let mut child = binary()
        .env_clear()
        .env("PROXY_LISTEN", "127.0.0.1:0")
        .arg("--config")
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.starts_with("sb-cookie-proxy listening on http://127.0.0.1:"),
        "{line}"
    );
}
