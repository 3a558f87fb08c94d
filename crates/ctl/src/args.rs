//! Parsing argument values the way ctr does: Go durations, `key=value`
//! labels and digests.

use std::collections::HashMap;
use std::time::Duration;

/// Parses a non-negative Go duration (`10s`, `1m30s`, `1.5h`, `0`) with
/// crated's one Go-duration parser, for clap.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crated_config::duration::parse_duration(text).map_err(|e| e.to_string())
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

/// Parses a size in bytes: a plain number, or with a binary suffix `k`,
/// `m`, `g` or `t` (optionally followed by `b`/`ib`), e.g. `64m`, `1GiB`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let invalid = || format!("invalid size {text:?} (examples: 1048576, 512k, 64m, 1g)");
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    if digits_end == 0 {
        return Err(invalid());
    }
    let number: u64 = lower[..digits_end].parse().map_err(|_| invalid())?;
    let shift = match &lower[digits_end..] {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(invalid()),
    };
    number.checked_mul(1u64 << shift).ok_or_else(invalid)
}

/// Parses a signal as moby's `signal.ParseSignal` does: a number, or a
/// name with or without the `SIG` prefix, in any case.
pub fn parse_signal(text: &str) -> Result<u32, String> {
    if let Ok(number) = text.parse::<u32>() {
        if number == 0 || number > 64 {
            return Err(format!("invalid signal {text:?}"));
        }
        return Ok(number);
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as u32)
        .map_err(|_| format!("invalid signal {text:?} (examples: SIGTERM, KILL, 9)"))
}

/// Reads an env file as `ctr --env-file` does: one `KEY=value` a line;
/// empty lines and lines starting with `#` are skipped.
pub fn parse_env_file(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(String::from)
        .collect()
}

/// Annotations as `ctr --annotation` reads them: `key=value`, required.
pub fn annotation_args(args: &[String]) -> Result<HashMap<String, String>, String> {
    args.iter()
        .map(|arg| {
            arg.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("invalid key=value format annotation: {arg}"))
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
    fn sizes_and_signals() {
        assert_eq!(parse_bytes("1048576"), Ok(1_048_576));
        assert_eq!(parse_bytes("64m"), Ok(64 << 20));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("512k"), Ok(512 << 10));
        for bad in ["", "m", "12x", "-1", "99999999999999999999"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("SIGKILL"), Ok(9));
        assert_eq!(parse_signal("kill"), Ok(9));
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("sigusr1"), Ok(10));
        assert!(parse_signal("SIGBOGUS").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn env_files_and_annotations() {
        assert_eq!(
            parse_env_file("A=1\n\n# comment\nB=two words\n"),
            vec!["A=1", "B=two words"]
        );
        let ok = annotation_args(&["a=b".to_string(), "c=".to_string()]);
        assert_eq!(ok.map(|m| m.len()), Ok(2));
        assert!(annotation_args(&["novalue".to_string()]).is_err());
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
