//! bbolt files (a containerd meta.db to adopt): any bytes read or fail.
#![no_main]

use std::path::Path;

use crated_bolt::{Bucket, Db, Value};

fn walk(bucket: Bucket<'_>, depth: usize) {
    if depth > 8 {
        return;
    }
    if let Ok(entries) = bucket.entries() {
        for (_, value) in entries {
            if let Value::Bucket(b) = value {
                walk(b, depth + 1);
            }
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(db) = Db::from_bytes(Path::new("fuzz.db"), data.to_vec()) {
        walk(db.root(), 0);
    }
});
