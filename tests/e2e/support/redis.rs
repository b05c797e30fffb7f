//! A real Redis server for tests: Debian's `redis-server` on a free loopback
//! port, killed when dropped. Installed by `scripts/test.sh`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// Append-only file folder: data survives a kill, as in a production setup.
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            dir: tempfile::tempdir().unwrap(),
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts (again) on the same port and waits until it accepts
    /// connections (its "Ready to accept connections" log line).
    pub fn restart(&mut self) {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server, or run scripts/test.sh)");
        // Redis logs to stdout; it says when it has loaded its append-only
        // file and accepts connections. The log is drained until it exits.
        let log = BufReader::new(child.stdout.take().unwrap());
        self.child = Some(child);
        let (ready, is_ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = Some(ready);
            for line in log.lines().map_while(Result::ok) {
                if let Some(ready) = ready.take_if(|_| line.contains("Ready to accept connections"))
                {
                    let _ = ready.send(());
                }
            }
        });
        is_ready
            .recv_timeout(Duration::from_secs(10))
            .expect("redis-server did not start");
    }

    /// `kill -9`, as in a crash (committed writes are in the append-only file).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every value under the proxy's prefix in Redis database `url`, as a dump
/// of it would show them.
pub async fn redis_values(url: &str) -> Vec<u8> {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("sbp:*")
        .query_async(&mut c)
        .await
        .unwrap();
    let mut dump = Vec::new();
    for k in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&k)
            .query_async(&mut c)
            .await
            .unwrap();
        let values: Vec<String> = match kind.as_str() {
            "hash" => redis::cmd("HGETALL")
                .arg(&k)
                .query_async(&mut c)
                .await
                .unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&k)
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .unwrap(),
            _ => vec![redis::cmd("GET").arg(&k).query_async(&mut c).await.unwrap()],
        };
        dump.extend(k.into_bytes());
        for v in values {
            dump.extend(v.into_bytes());
        }
    }
    dump
}
