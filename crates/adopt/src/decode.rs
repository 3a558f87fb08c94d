//! The encodings containerd's metadata store uses for field values.

use chrono::{DateTime, TimeZone, Utc};

use crate::{Error, Result};

/// Seconds from 0001-01-01 to 1970-01-01 (Go's `unixToInternal`).
const GO_EPOCH_OFFSET: i64 = 62_135_596_800;

/// A Go `time.Time.MarshalBinary` value (version 1 or 2).
pub fn go_time(bytes: &[u8]) -> Result<DateTime<Utc>> {
    let bad = || Error::Schema(format!("bad timestamp of {} bytes", bytes.len()));
    let (&version, rest) = bytes.split_first().ok_or_else(bad)?;
    if !(version == 1 || version == 2) || rest.len() < 14 {
        return Err(bad());
    }
    let secs = i64::from_be_bytes(rest[0..8].try_into().map_err(|_| bad())?);
    let nanos = u32::from_be_bytes(rest[8..12].try_into().map_err(|_| bad())?);
    Utc.timestamp_opt(secs - GO_EPOCH_OFFSET, nanos)
        .single()
        .ok_or_else(bad)
}

/// A Go `binary.PutVarint` value (zig-zag signed varint).
pub fn varint(bytes: &[u8]) -> Result<i64> {
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let signed = (value >> 1) as i64;
            return Ok(if value & 1 == 0 { signed } else { !signed });
        }
    }
    Err(Error::Schema(format!(
        "bad varint of {} bytes",
        bytes.len()
    )))
}

/// A UTF-8 string field.
pub fn string(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::Schema("a text field is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_times_decode() {
        // time.Date(2026, 12, 2, 6, 32, 8, 500, time.UTC).MarshalBinary()
        let secs: i64 = 1_796_193_128 + GO_EPOCH_OFFSET;
        let mut b = vec![1u8];
        b.extend_from_slice(&secs.to_be_bytes());
        b.extend_from_slice(&500u32.to_be_bytes());
        b.extend_from_slice(&(-1i16).to_be_bytes());
        let t = go_time(&b).unwrap();
        assert_eq!(t.timestamp(), 1_796_193_128);
        assert_eq!(t.timestamp_subsec_nanos(), 500);
        assert!(go_time(&b[..5]).is_err());
    }

    #[test]
    fn varints_decode_zig_zag() {
        assert_eq!(varint(&[0x16]).unwrap(), 11);
        assert_eq!(varint(&[0x01]).unwrap(), -1);
        assert_eq!(varint(&[0xac, 0x02]).unwrap(), 150);
        assert!(varint(&[0x80]).is_err());
    }
}
