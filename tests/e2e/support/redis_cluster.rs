//! A real Redis Cluster (or Valkey in cluster mode) for tests: three
//! primaries with one replica each, on free loopback ports, formed with the
//! cluster commands (`CLUSTER ADDSLOTSRANGE`, `MEET`, `REPLICATE`) the way
//! `redis-cli --cluster create` does it.

use super::redis::{Flavor, RedisServer};
use std::time::{Duration, Instant};

/// Redis Cluster's hash slots.
const SLOTS: u16 = 16384;
const PRIMARIES: usize = 3;

pub struct RedisCluster {
    /// The primaries first, then the replica of each in the same order.
    pub nodes: Vec<RedisServer>,
}

async fn connection(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn query<T: redis::FromRedisValue>(port: u16, command: &mut redis::Cmd) -> T {
    command
        .query_async(&mut connection(port).await)
        .await
        .unwrap()
}

impl RedisCluster {
    pub async fn start(flavor: Flavor) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..PRIMARIES * 2)
            .map(|_| RedisServer::cluster_node(flavor))
            .collect();
        let cluster = RedisCluster { nodes };
        let per_primary = SLOTS / PRIMARIES as u16;
        for (i, primary) in cluster.nodes[..PRIMARIES].iter().enumerate() {
            let first = per_primary * i as u16;
            let last = if i == PRIMARIES - 1 {
                SLOTS - 1
            } else {
                first + per_primary - 1
            };
            let () = query(
                primary.port(),
                redis::cmd("CLUSTER")
                    .arg("ADDSLOTSRANGE")
                    .arg(first)
                    .arg(last),
            )
            .await;
        }
        let first = cluster.nodes[0].port();
        for node in &cluster.nodes[1..] {
            let () = query(
                first,
                redis::cmd("CLUSTER")
                    .arg("MEET")
                    .arg("127.0.0.1")
                    .arg(node.port())
                    .arg(node.bus_port()),
            )
            .await;
        }
        cluster
            .until("every node knows every other", async |port| {
                let nodes: String = query(port, redis::cmd("CLUSTER").arg("NODES")).await;
                nodes.lines().count() == PRIMARIES * 2
            })
            .await;
        for i in 0..PRIMARIES {
            let primary: String =
                query(cluster.nodes[i].port(), redis::cmd("CLUSTER").arg("MYID")).await;
            let () = query(
                cluster.nodes[PRIMARIES + i].port(),
                redis::cmd("CLUSTER").arg("REPLICATE").arg(primary),
            )
            .await;
        }
        cluster.until_ok().await;
        cluster
    }

    /// `redis+cluster://` with every node.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// Waits until every running node says the cluster is ok (all slots
    /// served) and every replica is in sync.
    pub async fn until_ok(&self) {
        self.until("the cluster is ok", async |port| {
            let info: String = query(port, redis::cmd("CLUSTER").arg("INFO")).await;
            let replication: String = query(port, redis::cmd("INFO").arg("replication")).await;
            info.contains("cluster_state:ok")
                && !replication.contains("master_link_status:down")
                && !replication.contains("master_sync_in_progress:1")
        })
        .await;
    }

    /// Waits (at most 30 s) until `check` holds on every running node.
    async fn until(&self, what: &str, check: impl AsyncFn(u16) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        'again: loop {
            assert!(Instant::now() < deadline, "{what}: not within 30 s");
            for node in self.nodes.iter().filter(|n| n.is_running()) {
                if !check(node.port()).await {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'again;
                }
            }
            return;
        }
    }
}
