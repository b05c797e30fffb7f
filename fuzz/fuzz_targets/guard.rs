//! CSRF, client address and rate-limit parsing (sbp_core::fuzz::guard).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_core::fuzz::guard(data));
