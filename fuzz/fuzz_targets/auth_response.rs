//! The Auth-response interceptor (sbp_core::fuzz::auth_response).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_core::fuzz::auth_response(data));
