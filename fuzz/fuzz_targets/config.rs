//! Configuration from the environment (sbp_fuzz_targets::config).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_fuzz_targets::config(data));
