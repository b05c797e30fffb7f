//! Locking a mutex whose holder may have panicked.
//!
//! The proxy's locks guard short pushes, pops and swaps that a panic cannot
//! leave half done in a way later users would misread, so a poisoned lock
//! is used as it is rather than failing every later request.

use std::sync::{Mutex, MutexGuard};

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
