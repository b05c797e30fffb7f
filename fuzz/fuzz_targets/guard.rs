//! CSRF, client address and rate-limit parsing (sbp_fuzz_targets::guard).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_fuzz_targets::guard(data));
