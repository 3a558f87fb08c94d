//! Go durations, the way containerd's config and `ctr` write them: the
//! grammar of Go's `time.ParseDuration` (`300ms`, `1m30s`, `1.5h`, `-2h45m`,
//! `0`) and a [`GoDuration`] field type that reads and writes it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration string that does not follow Go's grammar, or one that does
/// not fit where it is used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a Go duration at all.
    #[error("invalid duration {text:?}: {reason} (examples: 500ms, 10s, 1m30s, 1.5h)")]
    Invalid {
        /// The text as written.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Larger than Go's duration range (about 292 years).
    #[error("invalid duration {text:?}: out of range")]
    Overflow {
        /// The text as written.
        text: String,
    },
    /// A negative duration where only a non-negative one makes sense.
    #[error("invalid duration {text:?}: must not be negative here")]
    Negative {
        /// The text as written.
        text: String,
    },
}

/// Nanoseconds per unit name.
const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{00b5}s", 1_000),
    ("\u{03bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration into signed nanoseconds, exactly as Go's
/// `time.ParseDuration` accepts it: an optional sign, then one or more
/// decimal numbers (a fraction allowed) each followed by a unit (`ns`,
/// `us`/`µs`, `ms`, `s`, `m`, `h`); `0` alone needs no unit.
pub fn parse_go_duration(text: &str) -> Result<i64, DurationError> {
    let invalid = |reason| DurationError::Invalid {
        text: text.to_owned(),
        reason,
    };
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid("empty"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after) = rest.split_at(int_len);
        let (frac_digits, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at(n)
            }
            None => ("", after),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid("expected a number"));
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit_name, after) = after.split_at(unit_len);
        if unit_name.is_empty() {
            return Err(invalid("missing unit"));
        }
        let unit = UNITS
            .iter()
            .find(|(name, _)| *name == unit_name)
            .map(|(_, ns)| *ns)
            .ok_or_else(|| invalid("unknown unit"))?;
        let overflow = || DurationError::Overflow {
            text: text.to_owned(),
        };
        let whole: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| overflow())?
        };
        // Go keeps the fraction's first digits until they would overflow;
        // 18 digits are more than a nanosecond of any unit needs.
        let kept = &frac_digits[..frac_digits.len().min(18)];
        let fraction: u128 = if kept.is_empty() {
            0
        } else {
            kept.parse().map_err(|_| overflow())?
        };
        let scale = 10u128.pow(u32::try_from(kept.len()).map_err(|_| overflow())?);
        let part = whole
            .checked_mul(unit)
            .and_then(|v| v.checked_add(fraction * unit / scale))
            .ok_or_else(overflow)?;
        total = total.checked_add(part).ok_or_else(overflow)?;
        if total > 1u128 << 63 {
            return Err(overflow());
        }
        rest = after;
    }
    if negative {
        // -(1<<63) is the one value whose magnitude exceeds i64::MAX.
        i64::try_from(total)
            .map(|v| -v)
            .or_else(|_| (total == 1u128 << 63).then_some(i64::MIN).ok_or(()))
            .map_err(|_| DurationError::Overflow {
                text: text.to_owned(),
            })
    } else {
        i64::try_from(total).map_err(|_| DurationError::Overflow {
            text: text.to_owned(),
        })
    }
}

/// Parses a non-negative Go duration (see [`parse_go_duration`]).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let nanos = parse_go_duration(text)?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| DurationError::Negative {
            text: text.to_owned(),
        })
}

/// Writes a duration the way Go's `Duration.String` does: `0s`, `1.5µs`,
/// `100ms`, `1m30s`, `2h0m0s`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    let fractional = |value: u128, per: u128, unit: &str| {
        let whole = value / per;
        let frac = value % per;
        if frac == 0 {
            format!("{whole}{unit}")
        } else {
            let width = per.ilog10() as usize;
            let digits = format!("{frac:0width$}");
            format!("{whole}.{}{unit}", digits.trim_end_matches('0'))
        }
    };
    match nanos {
        0 => "0s".to_owned(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => fractional(n, 1_000, "µs"),
        n if n < 1_000_000_000 => fractional(n, 1_000_000, "ms"),
        n => {
            let hours = n / 3_600_000_000_000;
            let minutes = (n / 60_000_000_000) % 60;
            let seconds = fractional(n % 60_000_000_000, 1_000_000_000, "s");
            match (hours, minutes) {
                (0, 0) => seconds,
                (0, m) => format!("{m}m{seconds}"),
                (h, m) => format!("{h}h{m}m{seconds}"),
            }
        }
    }
}

/// A non-negative duration field written as a Go duration string in the
/// config (`schedule_delay = "1m30s"`); a malformed value is a decode error
/// that names the file, line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(GoDuration)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn go_grammar() {
        let ok = |t: &str| parse_go_duration(t).unwrap();
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("-0"), 0);
        assert_eq!(ok("+0"), 0);
        assert_eq!(ok("5s"), 5 * SECOND);
        assert_eq!(ok("1m30s"), 90 * SECOND);
        assert_eq!(ok("500ms"), SECOND / 2);
        assert_eq!(ok("2h"), 7200 * SECOND);
        assert_eq!(ok("1.5h"), 5400 * SECOND);
        assert_eq!(ok("-2h45m"), -(2 * 3600 + 45 * 60) * SECOND);
        assert_eq!(ok(".5s"), SECOND / 2);
        assert_eq!(ok("1.s"), SECOND);
        assert_eq!(ok("1h2m3s4ms5us6ns"), 3723 * SECOND + 4_005_006);
        assert_eq!(ok("3µs"), 3_000);
        assert_eq!(ok("3μs"), 3_000);
        assert_eq!(ok("9223372036854775807ns"), i64::MAX);
        assert_eq!(ok("-9223372036854775808ns"), i64::MIN);
    }

    #[test]
    fn go_rejections() {
        for bad in [
            "", "-", "10", "s", ".", ".s", "1x", "1.5", "--1s", "1s-1s", "3d", "1 s",
        ] {
            assert!(
                matches!(parse_go_duration(bad), Err(DurationError::Invalid { .. })),
                "{bad:?}"
            );
        }
        for big in [
            "9223372036854775808ns",
            "3000000h",
            "99999999999999999999999s",
        ] {
            assert!(
                matches!(parse_go_duration(big), Err(DurationError::Overflow { .. })),
                "{big:?}"
            );
        }
        assert!(matches!(
            parse_duration("-1s"),
            Err(DurationError::Negative { .. })
        ));
    }

    #[test]
    fn formats_like_go() {
        let f = |t: &str| format_duration(parse_duration(t).unwrap());
        assert_eq!(f("0"), "0s");
        assert_eq!(f("100ms"), "100ms");
        assert_eq!(f("1.5us"), "1.5µs");
        assert_eq!(f("90s"), "1m30s");
        assert_eq!(f("2h"), "2h0m0s");
        assert_eq!(f("1.25s"), "1.25s");
        assert_eq!(f("7ns"), "7ns");
    }

    #[test]
    fn field_round_trips() {
        #[derive(Deserialize, Serialize)]
        struct T {
            d: GoDuration,
        }
        let t: T = toml::from_str(r#"d = "1m30s""#).unwrap();
        assert_eq!(t.d.get(), Duration::from_secs(90));
        assert_eq!(toml::to_string(&t).unwrap().trim(), r#"d = "1m30s""#);
        let err = toml::from_str::<T>(r#"d = "soon""#).err().unwrap();
        assert!(err.to_string().contains("invalid duration"), "{err}");
    }
}
