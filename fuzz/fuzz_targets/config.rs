//! Configuration from the environment (sbp_core::fuzz::config).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_core::fuzz::config(data));
