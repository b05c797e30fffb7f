//! The production build the container image ships (`Dockerfile`): what the
//! image is made of, and the binary its cargo line builds, which has no
//! `demo` subcommand (nor the stand-in Supabase) and still serves.
//!
//! Docker does not run here: the binary is built with the Dockerfile's own
//! cargo arguments (in debug, to save time) into a target folder of its
//! own, next to the suite's, so the suite's binary keeps its demo.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Browser, ProxyProcess, exit_of};

const DOCKERFILE: &str = include_str!("../../Dockerfile");

/// The Dockerfile's instructions, continuation lines joined, comments out.
fn instructions() -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in DOCKERFILE.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// The final stage's instructions (from its `FROM` on).
fn final_stage() -> Vec<String> {
    let all = instructions();
    let last_from = all.iter().rposition(|i| i.starts_with("FROM ")).unwrap();
    all[last_from..].to_vec()
}

/// The arguments after `cargo build` in the Dockerfile's one cargo line.
fn cargo_build_args() -> Vec<String> {
    let builds: Vec<String> = instructions()
        .into_iter()
        .filter(|i| i.contains("cargo build"))
        .collect();
    assert_eq!(builds.len(), 1, "one cargo build: {builds:?}");
    let after = builds[0].split("cargo build").nth(1).unwrap();
    let command = after.split("&&").next().unwrap();
    command.split_whitespace().map(str::to_string).collect()
}

#[test]
fn the_image_is_the_production_binary_alone_run_as_non_root() {
    let args = cargo_build_args();
    for arg in ["--release", "--locked", "--no-default-features"] {
        assert!(args.iter().any(|a| a == arg), "{arg} missing: {args:?}");
    }
    assert!(
        args.windows(2).any(|w| w == ["-p", "sb-cookie-proxy"]),
        "{args:?}"
    );
    assert!(DOCKERFILE.contains("target/release/sb-cookie-proxy /out/sb-cookie-proxy"));

    let stage = final_stage();
    let has = |wanted: &str| stage.iter().any(|i| i == wanted);
    assert!(
        stage[0].starts_with("FROM gcr.io/distroless/"),
        "{}",
        stage[0]
    );
    assert!(stage[0].ends_with(":nonroot"), "{}", stage[0]);
    assert!(has("USER nonroot"), "{stage:?}");
    assert!(has("EXPOSE 8787"), "{stage:?}");
    assert!(
        has(r#"ENTRYPOINT ["/usr/local/bin/sb-cookie-proxy"]"#),
        "{stage:?}"
    );
    assert!(has(r#"VOLUME ["/var/lib/sb-cookie-proxy"]"#), "{stage:?}");
    let env = stage.iter().find(|i| i.starts_with("ENV ")).expect("ENV");
    assert!(env.contains("PROXY_LISTEN=0.0.0.0:8787"), "{env}");
    assert!(
        env.contains("PROXY_SESSION_STORE=file:/var/lib/sb-cookie-proxy/"),
        "the file store is in the volume: {env}"
    );
    // Only the binary and its (empty, non-root) data folder are copied in.
    let copies: Vec<&String> = stage.iter().filter(|i| i.starts_with("COPY")).collect();
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert!(
        copies
            .iter()
            .all(|c| c.starts_with("COPY --from=build ") && c.contains(" /out/")),
        "{copies:?}"
    );
}

/// The suite's target folder (where Cargo put the suite's binary).
fn target_dir() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_sb-cookie-proxy"));
    binary.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Builds the binary with the Dockerfile's cargo arguments, in debug, into
/// `<target>/production`; returns its path.
fn production_binary() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let production = target_dir().join("production");
    let args: Vec<String> = cargo_build_args()
        .into_iter()
        .filter(|a| a != "--release")
        .collect();
    let status = Command::new(env!("CARGO"))
        .current_dir(&workspace)
        .env_remove("CARGO_TARGET_DIR")
        .arg("build")
        .args(&args)
        .arg("--target-dir")
        .arg(&production)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build {args:?} failed");
    production.join("debug/sb-cookie-proxy")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_production_build_has_no_demo_and_serves() {
    let binary = tokio::task::spawn_blocking(production_binary)
        .await
        .unwrap();

    let mut demo = Command::new(&binary);
    demo.env_clear().arg("demo");
    let (code, stderr) = exit_of(demo);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("unrecognized subcommand 'demo'"),
        "{stderr}"
    );
    let help = Command::new(&binary).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("sessions") && !help.contains("demo"),
        "{help}"
    );

    let stub = sbp_stub::Stub::start(sbp_stub::StubConfig::default())
        .await
        .expect("stub starts");
    let settings = support::settings_for(&stub, Vec::new());
    let mut command = Command::new(&binary);
    command.env_clear().envs(&settings).env("RUST_LOG", "warn");
    let (proxy, _) = tokio::task::spawn_blocking(move || ProxyProcess::spawn(command))
        .await
        .unwrap();
    let mut browser = Browser::new(&proxy.base(), &stub.anon_key(), "sb-session");
    assert_eq!(browser.get("/edge/v1/health").await.status, 200);
    stub.create_user("frank@example.com", "pw123456");
    let reply = browser.sign_in("frank@example.com", "pw123456").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let session = browser.get("/edge/v1/session").await;
    assert_eq!(session.status, 200, "{}", session.text());
    assert_eq!(session.json()["user"]["email"], "frank@example.com");
    proxy.kill();
}
