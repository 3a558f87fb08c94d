//! sha256 digests: validation of `sha256:<hex>` strings and incremental
//! hashing. sha256 is the only algorithm the local store supports.

use crated_core::{Error, Result};
use sha2::{Digest as _, Sha256};

/// The only digest algorithm the store supports.
pub const ALGORITHM: &str = "sha256";

/// The number of hex digits in a sha256 digest.
pub const HEX_LEN: usize = 64;

/// Checks that `digest` is `sha256:` followed by 64 lowercase hex digits and
/// returns the hex part. Anything else is `InvalidArgument` naming `digest`.
pub fn parse(digest: &str) -> Result<&str> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(Error::invalid_argument(format!(
            "invalid digest {digest:?}: expected {ALGORITHM}:<{HEX_LEN} lowercase hex digits>"
        )));
    };
    if algorithm != ALGORITHM {
        return Err(Error::invalid_argument(format!(
            "invalid digest {digest:?}: unsupported algorithm {algorithm:?}, only {ALGORITHM} is supported"
        )));
    }
    if !is_hex(hex) {
        return Err(Error::invalid_argument(format!(
            "invalid digest {digest:?}: expected {HEX_LEN} lowercase hex digits after \"{ALGORITHM}:\""
        )));
    }
    Ok(hex)
}

/// Whether `s` is exactly 64 lowercase hex digits (a sha256 in hex).
pub fn is_hex(s: &str) -> bool {
    s.len() == HEX_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The digest (`sha256:<hex>`) of `data`.
pub fn of(data: &[u8]) -> String {
    let mut digester = Digester::new();
    digester.update(data);
    digester.digest()
}

/// The lowercase sha256 hex of `data` (no algorithm prefix).
pub(crate) fn hex_of(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// An incremental sha256 hasher that reports `sha256:<hex>` digests.
#[derive(Clone, Default)]
pub(crate) struct Digester(Sha256);

impl Digester {
    /// A hasher over no bytes.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Feeds `data` into the hash.
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything fed so far; the state is kept.
    pub(crate) fn digest(&self) -> String {
        format!("{ALGORITHM}:{}", hex::encode(self.0.clone().finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_core::ErrorKind;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digest_of_empty_input_is_the_well_known_value() {
        assert_eq!(of(b""), EMPTY);
        assert_eq!(Digester::new().digest(), EMPTY);
    }

    #[test]
    fn incremental_hash_equals_one_shot_hash() {
        let mut d = Digester::new();
        d.update(b"hello ");
        let _ = d.digest();
        d.update(b"world");
        assert_eq!(d.digest(), of(b"hello world"));
    }

    #[test]
    fn parse_accepts_canonical_sha256() {
        assert_eq!(parse(EMPTY).ok(), Some(&EMPTY[7..]));
    }

    #[test]
    fn parse_rejects_malformed_digests_naming_them() {
        let upper = EMPTY.to_uppercase().replace("SHA256", "sha256");
        let cases = [
            "",
            "sha256",
            "sha256:",
            "sha256:abc",
            "md5:e3b0c44298fc1c149afbf4c8996fb924",
            &upper,
            &format!("{EMPTY}0"),
            &EMPTY.replace("sha256", "sha512"),
        ];
        for case in cases {
            let err = parse(case).err();
            assert_eq!(
                err.as_ref().map(|e| e.kind()),
                Some(ErrorKind::InvalidArgument),
                "{case}"
            );
            let message = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(&format!("{case:?}")), "{message}");
        }
    }
}
