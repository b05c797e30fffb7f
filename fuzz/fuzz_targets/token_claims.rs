//! The access token's claims through the Auth-response interceptor
//! (sbp_fuzz_targets::token_claims).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_fuzz_targets::token_claims(data));
