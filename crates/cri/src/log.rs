//! Container logs in the CRI format kubelet reads:
//! `<RFC3339Nano time> <stdout|stderr> <P|F> <content>\n`.
//!
//! [`LineSplitter`] turns a byte stream into records the way containerd's
//! CRI logger does: a line ending in `\n` is written whole (tag `F`,
//! without the `\n`); a line longer than `max_line_size` is cut into
//! partial records (tag `P`) followed by the rest (`F`); content left
//! without a newline when the stream ends is written as a full record.
//! The splitter does no I/O, so the daemon and a shim can both drive it.

use std::time::SystemTime;

/// Which stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The container's stdout.
    Stdout,
    /// The container's stderr.
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Splits one stream into CRI log records.
#[derive(Debug)]
pub struct LineSplitter {
    stream: Stream,
    max_line_size: usize,
    pending: Vec<u8>,
}

impl LineSplitter {
    /// A splitter for `stream`; `max_line_size` 0 means no limit (containerd's
    /// `max_container_log_line_size` of -1), otherwise lines longer than it
    /// are split into partial records.
    pub fn new(stream: Stream, max_line_size: usize) -> LineSplitter {
        LineSplitter {
            stream,
            max_line_size,
            pending: Vec::new(),
        }
    }

    /// Feeds `data`, appending every completed record to `out`, stamped
    /// with `now`.
    pub fn push(&mut self, data: &[u8], now: SystemTime, out: &mut Vec<u8>) {
        let mut rest = data;
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.take(&rest[..i], now, out);
                    let line = std::mem::take(&mut self.pending);
                    self.record(b'F', &line, now, out);
                    rest = &rest[i + 1..];
                }
                None => {
                    self.take(rest, now, out);
                    rest = &[];
                }
            }
        }
    }

    /// Ends the stream: content without a final newline becomes a record.
    pub fn finish(&mut self, now: SystemTime, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.record(b'F', &line, now, out);
        }
    }

    /// Adds `chunk` (no newline in it) to the pending line, writing partial
    /// records while the line is over the limit.
    fn take(&mut self, mut chunk: &[u8], now: SystemTime, out: &mut Vec<u8>) {
        if self.max_line_size == 0 {
            self.pending.extend_from_slice(chunk);
            return;
        }
        while self.pending.len() + chunk.len() > self.max_line_size {
            let room = self.max_line_size - self.pending.len();
            self.pending.extend_from_slice(&chunk[..room]);
            chunk = &chunk[room..];
            let line = std::mem::take(&mut self.pending);
            self.record(b'P', &line, now, out);
        }
        self.pending.extend_from_slice(chunk);
    }

    fn record(&self, tag: u8, content: &[u8], now: SystemTime, out: &mut Vec<u8>) {
        out.extend_from_slice(rfc3339_nano(now).as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.stream.as_str().as_bytes());
        out.push(b' ');
        out.push(tag);
        out.push(b' ');
        out.extend_from_slice(content);
        out.push(b'\n');
    }
}

/// `now` as Go's RFC3339Nano in UTC: fractional seconds without trailing
/// zeros, none at all on a whole second.
pub fn rfc3339_nano(now: SystemTime) -> String {
    let t: chrono::DateTime<chrono::Utc> = now.into();
    let nanos = t.timestamp_subsec_nanos();
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000)
    }

    fn run(max: usize, chunks: &[&[u8]]) -> String {
        let mut s = LineSplitter::new(Stream::Stdout, max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, at(), &mut out);
        }
        s.finish(at(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps_are_rfc3339_nano() {
        assert_eq!(rfc3339_nano(at()), "2023-11-14T22:13:20.12Z");
        assert_eq!(
            rfc3339_nano(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            rfc3339_nano(UNIX_EPOCH + Duration::new(0, 1)),
            "1970-01-01T00:00:00.000000001Z"
        );
    }

    #[test]
    fn whole_lines_across_chunks_are_full_records() {
        assert_eq!(
            run(0, &[b"hel", b"lo\nwor", b"ld\n"]),
            "2023-11-14T22:13:20.12Z stdout F hello\n2023-11-14T22:13:20.12Z stdout F world\n"
        );
    }

    #[test]
    fn long_lines_are_split_into_partials() {
        let out = run(4, &[b"abcdefghij\n"]);
        let tags: Vec<_> = out
            .lines()
            .map(|l| l.split(' ').skip(2).collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(tags, ["P abcd", "P efgh", "F ij"]);
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_one_full_record() {
        let out = run(4, &[b"abcd\n"]);
        assert_eq!(out, "2023-11-14T22:13:20.12Z stdout F abcd\n");
    }

    #[test]
    fn trailing_content_and_empty_lines() {
        assert_eq!(
            run(0, &[b"\nlast"]),
            "2023-11-14T22:13:20.12Z stdout F \n2023-11-14T22:13:20.12Z stdout F last\n"
        );
        let mut s = LineSplitter::new(Stream::Stderr, 0);
        let mut out = Vec::new();
        s.push(b"x\n", at(), &mut out);
        assert!(String::from_utf8(out).unwrap().contains(" stderr F x"));
    }
}
