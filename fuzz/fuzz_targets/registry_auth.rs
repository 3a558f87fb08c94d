//! docker config.json credentials and WWW-Authenticate challenges.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crated_remotes::auth::DockerConfig::parse(text);
        let _ = crated_remotes::auth::parse_www_authenticate([text]);
    }
});
