//! hosts.toml registry configuration.
#![no_main]

use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crated_remotes::hosts::parse_hosts_toml(Path::new("/etc/crated/certs.d/fuzz"), text);
    }
});
