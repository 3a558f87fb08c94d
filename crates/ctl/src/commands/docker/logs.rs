//! `cratectl logs`: a detached container's log file, filtered and
//! followed.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use crated_client::Client;
use crated_client::tasks::Status;

use super::logger::Entry;
use crate::args::parse_duration;
use crate::cli::LogsArgs;
use crate::context::Context;

/// How often `--follow` looks for new lines.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// `logs`.
pub async fn logs(ctx: &Context, client: &Client, args: LogsArgs) -> Result<()> {
    let container = super::container(ctx, client, &args.id).await?;
    let path = super::log_path(&container).ok_or_else(|| {
        anyhow!(
            "container {} has no log: only containers made by \"cratectl run\" or \"cratectl create\" are logged",
            args.id
        )
    })?;
    let tail = parse_tail(&args.tail)?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let filter = Filter {
        since,
        timestamps: args.timestamps,
    };
    let mut offset = 0;
    let mut entries = read_from(&path, &mut offset)?;
    entries.retain(|e| filter.keeps(e));
    if let Some(tail) = tail {
        let skip = entries.len().saturating_sub(tail);
        entries.drain(..skip);
    }
    filter.print(&entries)?;
    if !args.follow {
        return Ok(());
    }
    loop {
        let running = is_running(client, &args.id).await;
        let mut new = read_from(&path, &mut offset)?;
        new.retain(|e| filter.keeps(e));
        filter.print(&new)?;
        if !running {
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_INTERVAL).await;
    }
}

/// Whether the container's task may still write.
async fn is_running(client: &Client, id: &str) -> bool {
    match client.tasks().get(id, "").await {
        Ok(task) => matches!(
            task.status,
            Status::Running | Status::Paused | Status::Pausing | Status::Created
        ),
        Err(_) => false,
    }
}

/// `--tail`: a count, or `all`.
fn parse_tail(text: &str) -> Result<Option<usize>> {
    if text == "all" {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| anyhow!("invalid --tail {text:?}: give a number of lines or \"all\""))
}

/// `--since`: RFC 3339, or a Go duration before now.
fn parse_since(text: &str) -> Result<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    match parse_duration(text) {
        Ok(duration) => {
            let duration = chrono::Duration::from_std(duration)
                .map_err(|_| anyhow!("--since {text:?} is too far back"))?;
            Ok(Utc::now() - duration)
        }
        Err(_) => bail!(
            "invalid --since {text:?}: give RFC 3339 (2026-01-02T15:04:05Z) or a duration (10m, 1h30m)"
        ),
    }
}

/// The complete lines of the log past `offset`; moves `offset` past them.
/// A missing file has no lines yet.
fn read_from(path: &Path, offset: &mut u64) -> Result<VecDeque<Entry>> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(VecDeque::new()),
        Err(err) => return Err(err).with_context(|| format!("opening {}", path.display())),
    };
    file.seek(SeekFrom::Start(*offset))
        .with_context(|| format!("reading {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut entries = VecDeque::new();
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 || !line.ends_with('\n') {
            // The end, or a line the logger is still writing.
            return Ok(entries);
        }
        *offset += read as u64;
        match serde_json::from_str::<Entry>(&line) {
            Ok(entry) => entries.push_back(entry),
            Err(err) => tracing::warn!(error = %err, "skipping a malformed log line"),
        }
    }
}

/// Which lines to print, and how.
struct Filter {
    since: Option<DateTime<Utc>>,
    timestamps: bool,
}

impl Filter {
    fn keeps(&self, entry: &Entry) -> bool {
        self.since.is_none_or(|since| entry.time >= since)
    }

    fn print(&self, entries: &VecDeque<Entry>) -> Result<()> {
        let mut stdout = std::io::stdout().lock();
        let mut stderr = std::io::stderr().lock();
        for entry in entries {
            let out: &mut dyn Write = if entry.stream == "stderr" {
                &mut stderr
            } else {
                &mut stdout
            };
            if self.timestamps {
                write!(
                    out,
                    "{} ",
                    entry
                        .time
                        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                )
                .context("writing output")?;
            }
            out.write_all(entry.log.as_bytes())
                .context("writing output")?;
        }
        stdout.flush().context("writing output")?;
        stderr.flush().context("writing output")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_and_sinces() {
        assert_eq!(parse_tail("all").unwrap(), None);
        assert_eq!(parse_tail("3").unwrap(), Some(3));
        assert!(parse_tail("-1").is_err());
        let t = parse_since("2026-01-02T15:04:05Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-02T15:04:05+00:00");
        let ago = parse_since("10m").unwrap();
        assert!(ago < Utc::now() && ago > Utc::now() - chrono::Duration::minutes(11));
        assert!(parse_since("yesterday").is_err());
    }

    #[test]
    fn only_complete_lines_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let entry = Entry {
            log: "hi\n".into(),
            stream: "stdout".into(),
            time: Utc::now(),
        };
        let line = serde_json::to_string(&entry).unwrap();
        std::fs::write(&path, format!("{line}\n{{\"log\":\"par")).unwrap();
        let mut offset = 0;
        let entries = read_from(&path, &mut offset).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(offset, line.len() as u64 + 1);
        assert!(read_from(&path, &mut offset).unwrap().is_empty());
        assert!(
            read_from(&dir.path().join("none"), &mut 0)
                .unwrap()
                .is_empty()
        );
    }
}
