//! The proxy as a separate process (the real binary), for tests that kill
//! it, restart it, read its exit code or its output, or measure its memory:
//! the one way the suite starts the binary, waits for it to listen, or runs
//! it to its end.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ProxyProcess {
    pub child: Child,
    pub addr: SocketAddr,
    /// The "listening on" line, as printed.
    pub listening_line: String,
}

/// The binary built by Cargo for these tests.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sb-cookie-proxy"))
}

impl ProxyProcess {
    /// Starts the binary with exactly `settings` as its environment and waits
    /// (at most 20 s) for its "listening on" line.
    pub fn start(settings: &HashMap<String, String>) -> ProxyProcess {
        let mut command = binary();
        command.env_clear().envs(settings).env("RUST_LOG", "warn");
        ProxyProcess::spawn(command).0
    }

    /// Runs `command` (the binary, set up) and waits (at most 20 s) for its
    /// "listening on" line; also gives the lines it printed before that.
    pub fn spawn(command: Command) -> (ProxyProcess, Vec<String>) {
        ProxyProcess::spawn_with_stderr(command, Stdio::inherit())
    }

    /// Like [`ProxyProcess::spawn`], with the process's stderr (its logs)
    /// going to `stderr`.
    pub fn spawn_with_stderr(mut command: Command, stderr: Stdio) -> (ProxyProcess, Vec<String>) {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("proxy binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut printed = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("sb-cookie-proxy listening on http://") {
                    let addr = addr.parse::<SocketAddr>().unwrap();
                    let _ = tx.send((addr, line.clone(), std::mem::take(&mut printed)));
                } else {
                    printed.push(line);
                }
            }
        });
        let started = Instant::now();
        let Ok((addr, listening_line, printed)) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            let status = child.wait();
            panic!(
                "no listening line after {:?} (the proxy ended: {status:?})",
                started.elapsed()
            );
        };
        let proxy = ProxyProcess {
            child,
            addr,
            listening_line,
        };
        (proxy, printed)
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGTERM: a graceful stop.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM: {status}");
    }

    /// Waits (blocking, at most `within`) for the process to exit and
    /// gives its exit code; one that does not exit is killed and fails the test.
    pub fn exit_code_within(mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                panic!("the proxy did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Peak resident memory of the process so far (VmHWM), bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }
}

/// Runs `command` (the binary, set up) to its end and gives its exit code
/// and stderr; a proxy that starts instead of stopping is killed after 20 s
/// and fails the test.
pub fn exit_of(mut command: Command) -> (Option<i32>, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("proxy binary starts");
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Stderr ends when the process does.
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    let Ok(text) = rx.recv_timeout(Duration::from_secs(20)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the proxy started instead of ending");
    };
    (child.wait().unwrap().code(), text)
}

/// What a run of the binary to its end gave.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary with exactly `settings` as its environment and `args`,
/// off the test's runtime (a proxy or the stand-in may run on it), killed
/// after 20 s.
pub async fn run(settings: &HashMap<String, String>, args: &[&str]) -> Run {
    let mut command = binary();
    command
        .env_clear()
        .envs(settings)
        .env("RUST_LOG", "warn")
        .args(args);
    tokio::task::spawn_blocking(move || run_to_end(command))
        .await
        .unwrap()
}

fn run_to_end(mut command: Command) -> Run {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the command did not end within 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
