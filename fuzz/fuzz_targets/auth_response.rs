//! The Auth-response interceptor (sbp_fuzz_targets::auth_response).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_fuzz_targets::auth_response(data));
