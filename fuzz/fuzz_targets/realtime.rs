//! The Realtime frame rewriter (sbp_core::fuzz::realtime).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_core::fuzz::realtime(data));
