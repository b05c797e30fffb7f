//! Every Auth answer the proxy reads: decoding and what reaches the browser
//! (sbp_core::fuzz::auth_answer).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_core::fuzz::auth_answer(data));
