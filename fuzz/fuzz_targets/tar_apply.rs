//! Layer tar streams applied into a fresh root on tmpfs: no panic, and
//! nothing is ever written beside the root.
#![no_main]

use std::path::PathBuf;

use crated_archive::{ApplyOptions, apply};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let base = PathBuf::from(std::env::var("CRATED_FUZZ_DIR").unwrap_or_else(|_| "/dev/shm".into()))
        .join(format!("crated-fuzz-{}", std::process::id()));
    let root = base.join("root");
    let outside = base.join("outside");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&root).expect("fuzz root");
    std::fs::create_dir_all(&outside).expect("fuzz canary");
    let options = ApplyOptions {
        max_size: Some(16 << 20),
        ..ApplyOptions::default()
    };
    let _ = apply(data, &root, options);
    let escaped = std::fs::read_dir(&outside).map(|d| d.count()).unwrap_or(0);
    let siblings = std::fs::read_dir(&base).map(|d| d.count()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&base);
    assert_eq!(escaped, 0, "a layer wrote beside the root");
    assert_eq!(siblings, 2, "a layer created an entry beside the root");
});
