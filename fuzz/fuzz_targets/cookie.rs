//! The session cookie parser (sbp_fuzz_targets::cookie).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_fuzz_targets::cookie(data));
