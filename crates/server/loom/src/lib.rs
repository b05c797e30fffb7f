//! The lane's waker handshake (`crates/server/src/pool/lane/wakers.rs`)
//! compiled against loom's atomics, fence and `AtomicWaker`, for the
//! model-checking tests in `tests/`. Run them with `cargo test --release`
//! in this folder, or `cargo test -p sbp-wakers-loom --release`; the
//! workspace's `cargo test --workspace` (scripts/test.sh) runs them too.
//!
//! Only this crate is built with loom: the proxy and its dependencies
//! (tokio, bytes) are not, so no `--cfg loom` build of the whole tree.

/// What `wakers.rs` takes from `super::atomics`: loom's types here, std's
/// and futures' in the proxy (`pool/lane/atomics.rs`). `Arc` and `Waker`
/// stay std's: a `Waker` is made from a `std::sync::Arc`, and counting
/// references is not what is checked.
mod atomics {
    pub use loom::sync::atomic::{AtomicBool, Ordering, fence};
    pub use std::sync::Arc;
    pub use std::task::{Wake, Waker};

    /// loom's `AtomicWaker`, with the `register` of futures' one.
    pub struct AtomicWaker(loom::future::AtomicWaker);

    impl AtomicWaker {
        pub fn new() -> AtomicWaker {
            AtomicWaker(loom::future::AtomicWaker::new())
        }

        pub fn register(&self, waker: &Waker) {
            self.0.register_by_ref(waker);
        }

        pub fn wake(&self) {
            self.0.wake();
        }
    }
}

// Public here for the tests (in the proxy the module is private, where
// clippy asks for no `Default` beside `Wakers::new`).
#[allow(clippy::new_without_default)]
#[path = "../../src/pool/lane/wakers.rs"]
pub mod wakers;
