//! The route classifier (sbp_fuzz_targets::route).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_fuzz_targets::route(data));
