//! The session cookie parser (sbp_core::fuzz::cookie).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_core::fuzz::cookie(data));
