//! The access token's claims through the Auth-response interceptor
//! (sbp_core::fuzz::token_claims).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_core::fuzz::token_claims(data));
