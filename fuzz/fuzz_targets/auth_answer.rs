//! Every Auth answer the proxy reads: decoding and what reaches the browser
//! (sbp_fuzz_targets::auth_answer).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_fuzz_targets::auth_answer(data));
