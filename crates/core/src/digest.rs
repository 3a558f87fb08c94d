//! Digests: syntax checks (`algorithm:hex`) and the one place that computes
//! and formats `sha256:<hex>` digests.

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    format_sha256(Sha256::digest(data).as_slice())
}

/// `sha256:<hex>` of a finished sha256 hash.
pub fn format_sha256(hash: &[u8]) -> String {
    format("sha256", hash)
}

/// `<algorithm>:<hex>` of a finished hash.
pub fn format(algorithm: &str, hash: &[u8]) -> String {
    format!("{algorithm}:{}", hex::encode(hash))
}

/// Computes a `sha256:<hex>` digest of bytes fed in pieces.
#[derive(Debug, Clone, Default)]
pub struct Sha256Digester(Sha256);

impl Sha256Digester {
    /// A digester that has seen nothing.
    pub fn new() -> Self {
        Sha256Digester(Sha256::new())
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything fed.
    pub fn finish(self) -> String {
        format_sha256(self.0.finalize().as_slice())
    }
}

/// Checks that `digest` is `sha256:`, `sha384:` or `sha512:` followed by the
/// right number of lower-case hex digits.
pub fn validate(digest: &str) -> Result<()> {
    let invalid = |why: &str| Error::invalid_argument(format!("invalid digest {digest:?}: {why}"));
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| invalid("expected algorithm:hex"))?;
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(invalid("unsupported digest algorithm")),
    };
    if hex.len() != len {
        return Err(invalid("invalid checksum digest length"));
    }
    if !hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(invalid("invalid checksum digest format"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_in_one_piece_or_many() {
        let want = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256(b"abc"), want);
        let mut d = Sha256Digester::new();
        d.update(b"a");
        d.update(b"bc");
        assert_eq!(d.finish(), want);
    }

    #[test]
    fn accepts_and_rejects() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(validate(&good).is_ok());
        for bad in [
            "",
            "sha256",
            "sha256:abc",
            "md5:00",
            &format!("sha256:{}", "A".repeat(64)),
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
