//! The route classifier (sbp_core::fuzz::route).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_core::fuzz::route(data));
