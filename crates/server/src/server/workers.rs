//! Worker threads: each serves one listener on its own single-threaded
//! runtime, so a connection's requests, its upstream connection and its
//! timers stay on one core, with no work stealing or wake-ups between
//! threads. What must be shared (the app: sessions, refreshes, Realtime
//! sockets, the store) is shared through `Arc<App>`.

use super::serve;
use crate::app::App;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};

/// A worker thread; [`Worker::finished`] resolves once it has stopped.
pub struct Worker {
    done: oneshot::Receiver<()>,
}

impl Worker {
    /// Starts a thread serving `listener` (taken off the caller's runtime)
    /// until `stopped` fires.
    pub fn spawn(
        index: usize,
        listener: TcpListener,
        app: Arc<App>,
        slots: Arc<Semaphore>,
        stopped: watch::Receiver<bool>,
    ) -> std::io::Result<Worker> {
        let listener = listener.into_std()?;
        let (done, finished) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("sbp-worker-{index}"))
            .spawn(move || {
                run(listener, app, slots, stopped);
                drop(done);
            })?;
        Ok(Worker { done: finished })
    }

    /// Waits until the thread has served its last connection and its
    /// runtime is gone (or the thread panicked).
    pub async fn finished(self) {
        let _ = self.done.await;
    }
}

fn run(
    listener: std::net::TcpListener,
    app: Arc<App>,
    slots: Arc<Semaphore>,
    stopped: watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a worker's runtime");
            return;
        }
    };
    runtime.block_on(async move {
        let app_left = Arc::downgrade(&app);
        let deadline = match TcpListener::from_std(listener) {
            Ok(listener) => serve(listener, app, slots, stopped).await,
            Err(e) => {
                tracing::error!(error = %e, "a worker cannot take its listener");
                return;
            }
        };
        // The runtime's remaining tasks (idle upstream connections) end
        // with it, once the work it runs for the app let go of it.
        App::background_done(&app_left, deadline).await;
    });
}
