//! Image references as users and registries spell them.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crated_remotes::Reference::parse(text);
    }
});
