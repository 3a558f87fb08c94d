//! `cratectl internal-logger FILE`: the logging program of containers
//! started detached. The shim runs it for a `binary://` log URI
//! (containerd's contract: the process's stdout on descriptor 3, stderr on
//! 4, readiness signalled on 5) and it appends every line to FILE as
//! docker's `json-file` driver does: `{"log":…,"stream":…,"time":…}`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// The query key naming the log file in the URI (the shim passes each key,
/// then its value, as arguments: `internal-logger FILE`).
const KEY: &str = "internal-logger";
/// The longest line kept as one entry; longer ones are split.
const MAX_LINE: usize = 16 * 1024;
/// What a path keeps unescaped in the URI.
const PATH_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_');

/// One line of output in a log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The line, with its newline if it had one.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// When the logger read it.
    pub time: DateTime<Utc>,
}

/// The `binary://` URI that runs `exe internal-logger log`.
pub fn uri_for(exe: &Path, log: &Path) -> String {
    let encode = |p: &Path| utf8_percent_encode(&p.to_string_lossy(), PATH_SET).to_string();
    format!("binary://{}?{KEY}={}", encode(exe), encode(log))
}

/// The log file of a URI made by [`uri_for`].
pub fn path_of_uri(uri: &str) -> Option<PathBuf> {
    let (_, query) = uri.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == KEY).then(|| PathBuf::from(percent_decode_str(value).decode_utf8_lossy().as_ref()))
    })
}

/// Runs the logger until both streams end.
pub fn run(path: &Path) -> ExitCode {
    match log(path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cratectl internal-logger: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn inherited(fd: u32) -> Result<File> {
    let path = format!("/proc/self/fd/{fd}");
    let file = if fd == 5 {
        OpenOptions::new().write(true).open(&path)
    } else {
        File::open(&path)
    };
    file.with_context(|| {
        format!("opening descriptor {fd}: internal-logger is run by the shim for containers started with \"cratectl run -d\"")
    })
}

fn log(path: &Path) -> Result<()> {
    let stdout = inherited(3)?;
    let stderr = inherited(4)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .with_context(|| format!("opening log file {}", path.display()))?;
    // Ready: the shim waits for a byte (or the end) on descriptor 5.
    inherited(5)?
        .write_all(b"\n")
        .context("signalling readiness")?;
    let file = Arc::new(Mutex::new(file));
    let copier = {
        let file = file.clone();
        std::thread::spawn(move || copy(stderr, "stderr", &file))
    };
    let out = copy(stdout, "stdout", &file);
    let err = copier
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the stderr copier panicked")));
    out.and(err)
}

/// Copies `reader` to `file` a line (at most [`MAX_LINE`] bytes) at a time.
fn copy(reader: impl Read, stream: &str, file: &Mutex<File>) -> Result<()> {
    let mut reader = BufReader::with_capacity(MAX_LINE, reader);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = reader
            .fill_buf()
            .with_context(|| format!("reading the container's {stream}"))?;
        if buf.is_empty() {
            if !line.is_empty() {
                write_entry(file, stream, &line)?;
            }
            return Ok(());
        }
        let room = MAX_LINE - line.len();
        let window = &buf[..buf.len().min(room)];
        let (taken, complete) = match window.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (window.len(), line.len() + window.len() >= MAX_LINE),
        };
        line.extend_from_slice(&window[..taken]);
        reader.consume(taken);
        if complete {
            write_entry(file, stream, &line)?;
            line.clear();
        }
    }
}

fn write_entry(file: &Mutex<File>, stream: &str, line: &[u8]) -> Result<()> {
    let entry = Entry {
        log: String::from_utf8_lossy(line).into_owned(),
        stream: stream.to_string(),
        time: Utc::now(),
    };
    let mut text = serde_json::to_string(&entry).context("encoding a log entry")?;
    text.push('\n');
    let mut file = file
        .lock()
        .map_err(|_| anyhow::anyhow!("the log file lock is poisoned"))?;
    file.write_all(text.as_bytes())
        .context("writing the log file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_carry_the_log_path() {
        let uri = uri_for(
            Path::new("/usr/bin/cratectl"),
            Path::new("/var/lib/crated x/cratectl/logs/default/web.log"),
        );
        assert_eq!(
            uri,
            "binary:///usr/bin/cratectl?internal-logger=/var/lib/crated%20x/cratectl/logs/default/web.log"
        );
        assert_eq!(
            path_of_uri(&uri),
            Some(PathBuf::from(
                "/var/lib/crated x/cratectl/logs/default/web.log"
            ))
        );
        assert_eq!(path_of_uri("file:///x.log"), None);
    }

    #[test]
    fn lines_are_entries_and_long_lines_are_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let file = Mutex::new(File::create(&path).unwrap());
        let mut input = b"one\ntwo\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        copy(&input[..], "stdout", &file).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let entries: Vec<Entry> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].log, "one\n");
        assert_eq!(entries[1].log, "two\n");
        assert_eq!(entries[2].log.len(), MAX_LINE);
        assert_eq!(entries[3].log.len(), 10);
        assert!(entries.iter().all(|e| e.stream == "stdout"));
    }
}
