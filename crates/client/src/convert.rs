//! Conversions between protobuf well-known types and Rust types.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

/// A protobuf timestamp as UTC time; a missing or out-of-range timestamp
/// (or Go's zero time) becomes the Unix epoch.
pub(crate) fn time(ts: Option<&Timestamp>) -> DateTime<Utc> {
    optional_time(ts).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z), which
/// containerd sends for times it does not know.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// A protobuf timestamp as UTC time, or `None` when it is missing or Go's
/// zero time.
pub(crate) fn optional_time(ts: Option<&Timestamp>) -> Option<DateTime<Utc>> {
    let ts = ts?;
    if ts.seconds == GO_ZERO_TIME_SECONDS && ts.nanos == 0 {
        return None;
    }
    let nanos = u32::try_from(ts.nanos).ok()?;
    DateTime::from_timestamp(ts.seconds, nanos)
}

/// A UTC time as a protobuf timestamp.
pub(crate) fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        // Always below one billion, so it fits.
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let ts = Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_789,
        };
        assert_eq!(timestamp(time(Some(&ts))), ts);
        assert_eq!(time(None), DateTime::UNIX_EPOCH);
        let go_zero = Timestamp {
            seconds: GO_ZERO_TIME_SECONDS,
            nanos: 0,
        };
        assert_eq!(optional_time(Some(&go_zero)), None);
    }
}
