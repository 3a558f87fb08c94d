//! Parsing argument values the way ctr does: Go durations, `key=value`
//! labels and digests.

use std::collections::HashMap;
use std::time::Duration;

/// Parses a Go-style duration: a sequence of decimal numbers with units
/// `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`, e.g. `10s`, `1m30s`, `1.5h`;
/// a bare `0` is zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?} (examples: 10s, 1m30s, 500ms, 24h)");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

/// Labels as ctr's `LabelArgs` reads them: `key=value`, and `key` alone
/// means `key=true`.
pub fn label_args(args: &[String]) -> HashMap<String, String> {
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some((key, value)) => (key.to_string(), value.to_string()),
            None => (arg.clone(), "true".to_string()),
        })
        .collect()
}

/// Labels as `ctr leases create` reads them: `key` alone means an empty
/// value.
pub fn lease_label_args(args: &[String]) -> HashMap<String, String> {
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some((key, value)) => (key.to_string(), value.to_string()),
            None => (arg.clone(), String::new()),
        })
        .collect()
}

/// Checks a digest the way go-digest's `Parse` does: `algorithm:hex` with a
/// known algorithm and a lowercase hex string of the right length.
pub fn validate_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!("{digest:?}: invalid checksum digest format"));
    };
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ if algorithm.is_empty() || hex.is_empty() => {
            return Err(format!("{digest:?}: invalid checksum digest format"));
        }
        _ => return Err(format!("{digest:?}: unsupported digest algorithm")),
    };
    if hex.len() != length || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!("{digest:?}: invalid checksum digest length"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ok = |s: &str| parse_duration(s).ok();
        assert_eq!(ok("10s"), Some(Duration::from_secs(10)));
        assert_eq!(ok("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(ok("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(ok("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(ok("0"), Some(Duration::ZERO));
        assert_eq!(ok("0s"), Some(Duration::ZERO));
        for bad in ["", "10", "s", "10x", "1..5s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_like_ctr() {
        let args = vec![
            "a=b".to_string(),
            "c".to_string(),
            "d=".to_string(),
            "e=f=g".to_string(),
        ];
        let labels = label_args(&args);
        assert_eq!(labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(labels.get("c").map(String::as_str), Some("true"));
        assert_eq!(labels.get("d").map(String::as_str), Some(""));
        assert_eq!(labels.get("e").map(String::as_str), Some("f=g"));
        assert_eq!(
            lease_label_args(&args).get("c").map(String::as_str),
            Some("")
        );
    }

    #[test]
    fn digests() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(validate_digest(&good).is_ok());
        assert!(validate_digest("sha256").is_err());
        assert!(validate_digest("md5:abc").is_err());
        assert!(validate_digest(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(validate_digest("sha256:abc").is_err());
    }
}
