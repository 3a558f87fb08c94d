//! Small helpers: digests, polling, and ctr's size formatting.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `data`, as containerd writes digests.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Polls `cond` every 20 ms until it holds (true) or `timeout` passes
/// (false).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A size the way `ctr` prints it: go-units `HumanSize`, i.e. decimal units
/// and `%.4g` (four significant digits, trailing zeros dropped), e.g.
/// `1000000` → `1MB`, `1048576` → `1.049MB`, `6` → `6B`, `1500` → `1.5kB`.
pub fn human_size(size: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut unit = 0;
    let mut scaled = size as f64;
    while scaled >= 1000.0 && unit < UNITS.len() - 1 {
        scaled /= 1000.0;
        unit += 1;
    }
    let int_digits = match scaled {
        s if s < 10.0 => 1,
        s if s < 100.0 => 2,
        _ => 3,
    };
    let mut text = format!("{scaled:.prec$}", prec = 4 - int_digits);
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", UNITS[unit])
}

/// Deterministic pseudo-random bytes (xorshift), so a blob's digest is
/// known without storing it.
pub fn test_bytes(len: usize, seed: u64) -> Vec<u8> {
    // splitmix64 of the seed, so every seed gives a distinct stream.
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    state = (state ^ (state >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    state = (state ^ (state >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    state = (state ^ (state >> 31)) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_size_matches_ctr() {
        assert_eq!(human_size(6), "6B");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size(3_000_000), "3MB");
        assert_eq!(human_size(1500), "1.5kB");
        assert_eq!(human_size(1_048_576), "1.049MB");
        assert_eq!(human_size(100_000), "100kB");
        assert_eq!(human_size(12_345), "12.35kB");
        assert_eq!(human_size(0), "0B");
    }

    #[test]
    fn digest_of_hello() {
        assert_eq!(
            sha256_digest(b"hello\n"),
            "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
    }

    #[test]
    fn test_bytes_are_deterministic() {
        assert_eq!(test_bytes(100, 7), test_bytes(100, 7));
        for seed in 0..64 {
            assert_ne!(
                test_bytes(100, seed),
                test_bytes(100, seed + 1),
                "seed {seed}"
            );
        }
        assert_eq!(test_bytes(13, 1).len(), 13);
    }
}
