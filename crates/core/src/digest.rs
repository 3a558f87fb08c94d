//! Digest syntax checks (`algorithm:hex`).

use crate::error::{Error, Result};

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
