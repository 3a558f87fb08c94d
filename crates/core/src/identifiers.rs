//! Validation of identifiers (namespaces, container ids, lease ids, …) and
//! labels, with containerd's rules.

use std::hash::{BuildHasher, Hasher};

use crate::error::{Error, Result};

/// A fresh id the way containerd makes lease ids and unpack keys: the
/// nanoseconds of the current second, a dash and four random alphanumeric
/// characters (containerd uses base64, whose `-` and `_` can make an
/// invalid identifier). It is a valid identifier.
pub fn generate_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let now = chrono::Utc::now();
    // RandomState is seeded randomly per process and per instance.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i64(now.timestamp_nanos_opt().unwrap_or_default());
    let mut random = hasher.finish();
    let mut suffix = String::with_capacity(4);
    for _ in 0..4 {
        suffix.push(char::from(
            ALPHABET[(random % ALPHABET.len() as u64) as usize],
        ));
        random /= ALPHABET.len() as u64;
    }
    format!("{}-{suffix}", now.timestamp_subsec_nanos())
}

/// `<prefix>-<generate_id()>`: a name unique to this moment for the
/// temporary refs, keys and leases a pull, import or unpack creates.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", generate_id())
}

/// The longest identifier containerd accepts.
pub const MAX_IDENTIFIER_LEN: usize = 76;
/// The largest label (key plus value, in bytes) containerd accepts.
pub const MAX_LABEL_SIZE: usize = 4096;

/// Checks that `s` is a valid identifier: 1 to 76 characters, alphanumeric
/// runs joined by single `.`, `_` or `-`.
pub fn validate(s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(Error::invalid_argument("identifier must not be empty"));
    }
    if s.len() > MAX_IDENTIFIER_LEN {
        return Err(Error::invalid_argument(format!(
            "identifier {s:?} greater than maximum length ({MAX_IDENTIFIER_LEN} characters)"
        )));
    }
    let mut previous_separator = true;
    for c in s.chars() {
        let separator = matches!(c, '.' | '_' | '-');
        let valid = c.is_ascii_alphanumeric() || (separator && !previous_separator);
        if !valid {
            return Err(Error::invalid_argument(format!(
                "identifier {s:?} must match [A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*"
            )));
        }
        previous_separator = separator;
    }
    if previous_separator {
        return Err(Error::invalid_argument(format!(
            "identifier {s:?} must not end with a separator"
        )));
    }
    Ok(())
}

/// Checks one label: key and value together at most 4096 bytes, key not empty.
pub fn validate_label(key: &str, value: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid_argument("label key must not be empty"));
    }
    let total = key.len() + value.len();
    if total > MAX_LABEL_SIZE {
        let shown: String = key.chars().take(10).collect();
        return Err(Error::invalid_argument(format!(
            "label key and value greater than maximum size ({MAX_LABEL_SIZE} bytes), key: {shown}"
        )));
    }
    Ok(())
}

/// Checks every label of a map.
pub fn validate_labels<'a>(
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<()> {
    for (k, v) in labels {
        validate_label(k, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_look_like_containerd_ones() {
        let (a, b) = (generate_id(), generate_id());
        assert_ne!(a, b);
        validate(&a).unwrap();
        let (nanos, random) = a.split_once('-').unwrap();
        assert!(nanos.parse::<u32>().is_ok(), "{a}");
        assert_eq!(random.len(), 4, "{a}");
        validate(&unique_name("extract")).unwrap();
        assert!(unique_name("pull").starts_with("pull-"));
    }
    use crate::error::ErrorKind;

    #[test]
    fn accepts_containerd_style_ids() {
        for id in ["default", "k8s.io", "a", "my-ns_1.2", "A9"] {
            assert!(validate(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_bad_ids() {
        let long = "a".repeat(77);
        for id in ["", "-a", "a-", "a..b", "a/b", "a b", "ü", long.as_str()] {
            let err = validate(id).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{id}");
        }
    }

    #[test]
    fn label_size_limit() {
        assert!(validate_label("k", &"v".repeat(4095)).is_ok());
        assert!(validate_label("k", &"v".repeat(4096)).is_err());
        assert!(validate_label("", "v").is_err());
    }
}
