//! Image indexes, manifests and configs from a registry or an archive.
#![no_main]

use crated_images::manifest::{ImageConfig, Index, Manifest};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = Index::parse(data);
    let _ = Manifest::parse(data);
    let _ = ImageConfig::parse(data);
});
