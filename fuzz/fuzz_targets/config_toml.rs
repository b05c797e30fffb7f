//! The TOML config file (`sb-cookie-proxy --config`): parsed by the server,
//! then loaded and checked like the environment (sbp_fuzz_targets::config_toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbp_fuzz_targets::config_toml(data));
