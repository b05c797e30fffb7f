//! The atomics and waker types [`super::wakers`] is built from: std's and
//! futures' here. The model-checking tests (`crates/server/loom`) compile
//! the same `wakers.rs` against their own module of this name, with loom's.

pub use futures_util::task::AtomicWaker;
pub use std::sync::Arc;
pub use std::sync::atomic::{AtomicBool, Ordering, fence};
pub use std::task::{Wake, Waker};
