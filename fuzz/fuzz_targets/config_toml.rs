//! The TOML config file (`sb-cookie-proxy --config`): parsed by the server,
//! then loaded and checked like the environment (sbp_core::fuzz::config_source).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(settings) = sb_cookie_proxy::config::parse_toml(text) {
        sbp_core::fuzz::config_source(&settings);
    }
});
