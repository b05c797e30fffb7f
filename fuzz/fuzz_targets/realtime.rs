//! The Realtime frame rewriter (sbp_fuzz_targets::realtime).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_fuzz_targets::realtime(data));
