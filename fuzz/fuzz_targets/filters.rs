//! containerd's filter language: any text parses or fails cleanly.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crated_core::filters::Filter::parse(text);
    }
});
