//! config.toml: any document loads or fails with an error.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crated_config::Config::from_toml_str(text);
    }
});
