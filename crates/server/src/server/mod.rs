//! The listeners: accept connections, serve HTTP/1.1 through the pipeline,
//! sweep expired sessions (and expired idle upstream connections), and
//! shut down gracefully.
//!
//! One listener per worker ([`Limits::workers`], one per CPU by default):
//! the first served on the caller's runtime, each other one on a thread of
//! its own with a single-threaded runtime ([`workers`]), all on the same
//! address (`SO_REUSEPORT`, [`listen`]). With one worker, the caller's
//! runtime alone.
//!
//! [`Limits::workers`]: sbp_core::config::Limits::workers

mod admin;
mod listen;
mod workers;

use crate::app::App;
use crate::coarse_timer::CoarseTimer;
use crate::pipeline::{self, Connection};
use crate::runtime::OsRandom;
use crate::store::{Eviction, Store, follow_evictions};
use crate::upstream::Lane;
use crate::when_woken::WhenWoken;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sbp_core::config::Config;
use sbp_core::session::TokenSeal;
use std::net::SocketAddr;
use std::num::NonZero;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use workers::Worker;

/// How often expired sessions are deleted from the store (and expired idle
/// upstream connections closed).
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// A proxy that is serving; dropping it does not stop it, [`RunningProxy::shutdown`] does.
pub struct RunningProxy {
    pub addr: SocketAddr,
    /// The admin listener's address, when `PROXY_ADMIN_LISTEN` is set.
    pub admin_addr: Option<SocketAddr>,
    pub app: Arc<App>,
    stop: watch::Sender<bool>,
    /// Serves until the stop; its output is the drain's deadline.
    task: JoinHandle<Instant>,
}

impl RunningProxy {
    /// Stops accepting, closes the relayed sockets (1001), waits for
    /// requests in flight and for background work (refreshes, last-seen
    /// writes, store commits) to let go of the app, up to
    /// `PROXY_DRAIN_TIMEOUT` in all, and returns: the store is then closed,
    /// so a file store can be opened again at once.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let deadline = self.task.await.unwrap_or_else(|_| Instant::now());
        App::background_done(&Arc::downgrade(&self.app), deadline).await;
    }

    /// Serves until `signal` resolves, then shuts down
    /// ([`RunningProxy::shutdown`]); returns early if serving ended on its
    /// own (it does not, unless it panicked).
    pub async fn serve_until(mut self, signal: impl Future<Output = ()>) {
        tokio::select! {
            () = signal => {}
            _ = &mut self.task => return,
        }
        tracing::info!("shutting down");
        self.shutdown().await;
        tracing::info!("stopped");
    }

    /// Resolves when the proxy stopped on its own (it does not, unless it panicked).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// A sender that stops the proxy, for signal handlers.
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }
}

/// Opens the configured store and starts serving on the configured address.
pub async fn start(config: Config) -> Result<RunningProxy, crate::Error> {
    let instance: String = OsRandom
        .bytes::<8>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let seal = TokenSeal::new(config.store_keys.clone(), Arc::new(OsRandom));
    let store = Store::open(&config.session_store, instance, seal)?;
    start_with_store(config, store).await
}

/// Starts serving with an already opened store.
pub async fn start_with_store(config: Config, store: Store) -> Result<RunningProxy, crate::Error> {
    let listen = config.listen;
    let cannot_listen = |cause| crate::Error::Listen {
        addr: listen,
        cause,
    };
    let count = worker_count(config.limits.workers);
    let mut listeners = listen::bind(listen, count).await.map_err(cannot_listen)?;
    let addr = listeners[0].local_addr().map_err(cannot_listen)?;
    let admin_listener = match config.admin_listen {
        Some(admin) => Some(
            TcpListener::bind(admin)
                .await
                .map_err(|cause| crate::Error::Listen { addr: admin, cause })?,
        ),
        None => None,
    };
    let admin_addr = match &admin_listener {
        Some(listener) => Some(listener.local_addr().map_err(cannot_listen)?),
        None => None,
    };
    let app = Arc::new(App::new(config, store)?);
    let (stop, stopped) = watch::channel(false);
    crate::sessions_table::start(&app, stopped.clone())?;
    // One limit on connections for all listeners.
    let slots = Arc::new(Semaphore::new(app.config.limits.max_connections));
    let first = listeners.remove(0);
    let mut others = Vec::with_capacity(listeners.len());
    for (index, listener) in listeners.into_iter().enumerate() {
        let spawned = Worker::spawn(
            index + 1,
            listener,
            app.clone(),
            slots.clone(),
            stopped.clone(),
        );
        match spawned {
            Ok(worker) => others.push(worker),
            Err(cause) => {
                let _ = stop.send(true);
                drop(app);
                for worker in others {
                    worker.finished().await;
                }
                return Err(cannot_listen(cause));
            }
        }
    }
    tokio::spawn(sweep(app.clone(), stopped.clone()));
    tokio::spawn(follow_store(app.clone(), stopped.clone()));
    // The admin listener outlives the public ones: it reports the drain.
    let (stop_admin, admin_stopped) = watch::channel(false);
    let admin = admin_listener
        .map(|listener| admin::start(listener, app.clone(), stopped.clone(), admin_stopped));
    let task = tokio::spawn({
        let app = app.clone();
        async move {
            let deadline = serve(first, app, slots, stopped).await;
            for worker in others {
                worker.finished().await;
            }
            let _ = stop_admin.send(true);
            if let Some(admin) = admin {
                let _ = admin.await;
            }
            deadline
        }
    });
    Ok(RunningProxy {
        addr,
        admin_addr,
        app,
        stop,
        task,
    })
}

/// The configured number of workers, or one per CPU.
fn worker_count(configured: Option<usize>) -> usize {
    configured.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, NonZero::get))
}

/// Serves `listener` on the current runtime until `stopped` fires, then
/// closes the relayed sockets, serves the connections already queued on
/// the listener and waits, up to `PROXY_DRAIN_TIMEOUT`, for its
/// connections to finish. `slots` limits the connections of every
/// listener together. Returns the drain's deadline, which bounds the
/// background work the requests left too.
async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    slots: Arc<Semaphore>,
    mut stopped: watch::Receiver<bool>,
) -> Instant {
    // Every connection task holds a sender; when all are dropped, all are done.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    let limits = app.config.limits.clone();
    let timer = CoarseTimer::new();
    let mut http = http1::Builder::new();
    http.timer(timer.clone())
        .header_read_timeout(Duration::from_secs(limits.header_timeout))
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(64 * 1024));
    let served = Served {
        app,
        http,
        timer,
        open,
    };
    // A connection accepted when the stop came, still waiting for a slot.
    let mut waiting = None;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        // At the connection limit, the connection waits (unread) for one
        // to close, and this listener accepts no more until then. Taking
        // the slot after the accept: a listener holding a slot while no
        // connection arrives on it would keep one waiting on another.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = stopped.changed() => {
                waiting = Some((stream, peer));
                break;
            }
        };
        // The shutdown signal is polled only when it fired.
        let mut stop = stopped.clone();
        let stop = WhenWoken::new(async move {
            let _ = stop.changed().await;
        });
        served.spawn(stream, peer, Some(slot), stop);
    }
    let deadline = Instant::now() + Duration::from_secs(limits.drain_timeout);
    served.app.realtime.close_all();
    serve_last_requests(served, waiting.into_iter().chain(queued(listener)));
    let drained = tokio::time::timeout_at(deadline.into(), all_closed.recv()).await;
    if drained.is_err() {
        tracing::warn!("shutdown: requests still in flight were cut off");
    }
    deadline
}

/// What the system accepted before the stop is answered, not reset: one
/// request per connection, then it closes.
fn serve_last_requests(served: Served, connections: impl Iterator<Item = (TcpStream, SocketAddr)>) {
    let mut last_requests = served;
    last_requests.http.keep_alive(false);
    for (stream, peer) in connections {
        last_requests.spawn(stream, peer, None, std::future::pending());
    }
}

/// What serving a connection takes.
#[derive(Clone)]
struct Served {
    app: Arc<App>,
    http: http1::Builder,
    timer: CoarseTimer,
    /// Held by every connection's task.
    open: mpsc::Sender<()>,
}

impl Served {
    /// Serves `stream` in a task of its own until it closes, or until
    /// `stop` resolves and the request in flight is answered. `slot` is its
    /// place under `PROXY_MAX_CONNECTIONS`.
    fn spawn(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        slot: Option<OwnedSemaphorePermit>,
        stop: impl Future<Output = ()> + Send + 'static,
    ) {
        let _ = stream.set_nodelay(true);
        let app = self.app.clone();
        let browser = Connection::new(peer);
        let (http, timer, open) = (self.http.clone(), self.timer.clone(), self.open.clone());
        tokio::spawn(async move {
            // The connection's lane is polled with it, in this task; only
            // requests made inside `drive` can use it (`OnLane`).
            let lane = Lane::new(timer);
            let ended = lane
                .drive(async move |on_lane| {
                    let service = service_fn(move |request| {
                        let (app, browser) = (app.clone(), browser.clone());
                        async move {
                            let response = pipeline::handle(app, request, browser, on_lane).await;
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let connection = http
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades();
                    let mut connection = pin!(connection);
                    tokio::select! {
                        biased;
                        ended = connection.as_mut() => ended,
                        () = stop => {
                            connection.as_mut().graceful_shutdown();
                            connection.await
                        }
                    }
                })
                .await;
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop((open, slot));
        });
    }
}

/// The connections queued on `listener` (accepted by the system, not yet
/// by the proxy); the listener closes once they are taken.
fn queued(listener: TcpListener) -> Vec<(TcpStream, SocketAddr)> {
    let Ok(listener) = listener.into_std() else {
        return Vec::new();
    };
    let mut queued = Vec::new();
    // Non-blocking: the first `WouldBlock` says the queue is empty.
    while let Ok((stream, peer)) = listener.accept() {
        let stream = stream
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(stream));
        match stream {
            Ok(stream) => queued.push((stream, peer)),
            Err(e) => tracing::debug!(error = %e, "a queued connection cannot be served"),
        }
    }
    queued
}

/// Keeps the cache coherent with a store shared by other instances.
async fn follow_store(app: Arc<App>, stopped: watch::Receiver<bool>) {
    let Store::Redis(redis) = app.sessions.store() else {
        return;
    };
    let evict = |eviction| match eviction {
        Eviction::Session(key) => app.sessions.evict(&key),
        Eviction::Ended(key) => app.sessions.ended_elsewhere(&key),
        Eviction::Everything => app.sessions.clear(),
    };
    follow_evictions(redis, evict, stopped).await;
}

async fn sweep(app: Arc<App>, mut stopped: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopped.changed() => return,
        }
        app.upstream.close_expired();
        match app.sessions.sweep(app.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "expired sessions deleted"),
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbp_core::config::StoreSpec;
    use std::collections::HashMap;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn app_allowing_one_connection() -> Arc<App> {
        let settings: HashMap<String, String> = [
            ("SUPABASE_URL", "http://127.0.0.1:9"),
            ("SUPABASE_ANON_KEY", "anon"),
            ("PROXY_SESSION_STORE", "memory:"),
            ("PROXY_MAX_CONNECTIONS", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = Config::load(&settings).unwrap();
        let seal = TokenSeal::new(None, Arc::new(OsRandom));
        let store = Store::open(&StoreSpec::Memory, "test".into(), seal).unwrap();
        Arc::new(App::new(config, store).unwrap())
    }

    /// One request on a new connection to `addr`, answered in full.
    async fn health_status_line(addr: SocketAddr) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /edge/v1/health HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("the connection is served")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        answer.lines().next().unwrap_or_default().to_string()
    }

    /// Listeners sharing a connection limit: a freed slot serves whichever
    /// listener a connection arrives on next, not the one that took it.
    #[tokio::test]
    async fn listeners_sharing_the_connection_limit_serve_each_other_s_connections() {
        let app = app_allowing_one_connection().await;
        let slots = Arc::new(Semaphore::new(1));
        let (stop, stopped) = watch::channel(false);
        let mut addrs = Vec::new();
        let mut served = Vec::new();
        for _ in 0..2 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.push(listener.local_addr().unwrap());
            served.push(tokio::spawn(serve(
                listener,
                app.clone(),
                slots.clone(),
                stopped.clone(),
            )));
        }
        for addr in [addrs[0], addrs[0], addrs[1], addrs[1], addrs[0]] {
            assert_eq!(health_status_line(addr).await, "HTTP/1.1 200 OK", "{addr}");
        }
        let _ = stop.send(true);
        for task in served {
            task.await.unwrap();
        }
    }
}
