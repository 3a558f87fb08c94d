//! Values for people, formatted as ctr formats them (go-units sizes and
//! durations, Go time strings).

use std::collections::HashMap;

use chrono::{DateTime, Local, SecondsFormat, Utc};

/// go-units `HumanSize`: decimal units, four significant digits, e.g.
/// `6B`, `1.234kB`, `1.049MB`.
pub fn size(bytes: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{}{}", significant4(value), UNITS[unit])
}

/// containerd's `progress.Bytes`: binary units with one decimal, e.g.
/// `6.0 B`, `1.5 KiB`, `2.3 MiB`.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Go's `%.4g` for the values `size` produces.
fn significant4(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    // Round to four significant digits first, then print without
    // trailing zeros, as %g does.
    let scientific = format!("{value:.3e}");
    let exponent: i32 = scientific
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    let decimals = usize::try_from(3 - exponent).unwrap_or(0);
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// go-units `HumanDuration`, e.g. `Less than a second`, `5 minutes`,
/// `About an hour`, `3 days`.
pub fn duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    let minutes = d.num_minutes();
    let hours_f = d.num_milliseconds() as f64 / 3_600_000.0;
    let hours = (hours_f + 0.5) as i64;
    if seconds < 1 {
        "Less than a second".to_string()
    } else if seconds == 1 {
        "1 second".to_string()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".to_string()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", d.num_hours() / 24 / 365)
    }
}

/// How long ago `time` was, as [`duration`].
pub fn age(time: DateTime<Utc>) -> String {
    duration(Utc::now() - time)
}

/// Go's `time.Time.String()` for a UTC time, as ctr prints event
/// timestamps: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub fn go_time(time: DateTime<Utc>) -> String {
    let mut text = time.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = time.timestamp_subsec_nanos();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push_str(" +0000 UTC");
    text
}

/// RFC 3339 in local time to the second, as ctr prints lease times.
pub fn local_rfc3339(time: DateTime<Utc>) -> String {
    time.with_timezone(&Local)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Labels as sorted `key=value` pairs joined by commas.
pub fn labels(labels: &HashMap<String, String>) -> String {
    let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    pairs.join(",")
}

/// [`labels`], or `-` when there are none.
pub fn labels_or_dash(map: &HashMap<String, String>) -> String {
    if map.is_empty() {
        "-".to_string()
    } else {
        labels(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(6), "6B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(1000), "1kB");
        assert_eq!(size(1234), "1.234kB");
        assert_eq!(size(1_048_576), "1.049MB");
        assert_eq!(size(12_345_678), "12.35MB");
        assert_eq!(size(123_456_789), "123.5MB");
        assert_eq!(size(5_000_000_000), "5GB");
    }

    #[test]
    fn bytes_like_containerd_progress() {
        assert_eq!(bytes(0), "0.0 B");
        assert_eq!(bytes(6), "6.0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(2_411_724), "2.3 MiB");
    }

    #[test]
    fn durations_like_go_units() {
        let s = chrono::Duration::seconds;
        assert_eq!(
            duration(chrono::Duration::milliseconds(300)),
            "Less than a second"
        );
        assert_eq!(duration(s(1)), "1 second");
        assert_eq!(duration(s(42)), "42 seconds");
        assert_eq!(duration(s(90)), "About a minute");
        assert_eq!(duration(s(600)), "10 minutes");
        assert_eq!(duration(s(3600)), "About an hour");
        assert_eq!(duration(s(5 * 3600)), "5 hours");
        assert_eq!(duration(s(3 * 86400)), "3 days");
        assert_eq!(duration(s(21 * 86400)), "3 weeks");
        assert_eq!(duration(s(90 * 86400)), "3 months");
        assert_eq!(duration(s(800 * 86400)), "2 years");
    }

    #[test]
    fn go_time_strings() {
        let t = DateTime::from_timestamp(1_700_000_000, 418_794_000).unwrap_or_default();
        assert_eq!(go_time(t), "2023-11-14 22:13:20.418794 +0000 UTC");
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        assert_eq!(go_time(t), "2023-11-14 22:13:20 +0000 UTC");
    }

    #[test]
    fn label_lists_are_sorted() {
        let map: HashMap<String, String> = [("b", "2"), ("a", "1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(labels(&map), "a=1,b=2");
        assert_eq!(labels_or_dash(&HashMap::new()), "-");
    }
}
