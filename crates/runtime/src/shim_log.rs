//! The shim's `log` FIFO in the bundle: created before the shim starts
//! (containerd's Go shim exits silently without a reader) and copied into
//! the daemon's log, one daemon event per shim line.
//!
//! A shim writes its own log lines, with a time, a level, a message and
//! fields: containerd's Go shims as logrus text (`time="…" level=info
//! msg="…" key=value`) or JSON, crated's shim as tracing text
//! (`2024-01-01T00:00:00Z  INFO message key=value`). Each line is parsed so
//! that it is logged once, at its own level, with its message and fields,
//! instead of being wrapped whole in a second time and level.

use crated_core::{Error, ErrorKind, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;

use crate::bundle::Bundle;

/// Reads the shim log until dropped.
pub struct ShimLog {
    task: JoinHandle<()>,
}

impl Drop for ShimLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Creates (if needed) and opens the bundle's log FIFO, forwarding every
/// line to the daemon's log with the task's namespace and id.
pub fn open(bundle: &Bundle) -> Result<Option<ShimLog>> {
    let path = bundle.log_fifo();
    if !path.exists() {
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o700)).map_err(
            |e| {
                Error::with_source(
                    ErrorKind::Internal,
                    format_args!("creating shim log fifo {}", path.display()),
                    e,
                )
            },
        )?;
    }
    let receiver = tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(&path)
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Internal,
                format_args!("opening shim log fifo {}", path.display()),
                e,
            )
        })?;
    let (id, ns) = (bundle.id.clone(), bundle.namespace.clone());
    let task = tokio::spawn(async move {
        let mut lines = BufReader::new(receiver).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            forward(&parse_line(&line), &ns, &id);
        }
    });
    Ok(Some(ShimLog { task }))
}

/// A shim's log line taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimLine {
    /// Its level (`info` when it has none).
    pub level: tracing::Level,
    /// Its message.
    pub msg: String,
    /// Its other fields, as written (the time is dropped: the daemon's log
    /// has its own).
    pub fields: Vec<(String, String)>,
}

fn level(name: &str) -> Option<tracing::Level> {
    Some(match name.to_ascii_lowercase().as_str() {
        "trace" => tracing::Level::TRACE,
        "debug" => tracing::Level::DEBUG,
        "info" => tracing::Level::INFO,
        "warn" | "warning" => tracing::Level::WARN,
        "error" | "fatal" | "panic" => tracing::Level::ERROR,
        _ => return None,
    })
}

/// Parses one shim log line (logrus text, JSON or tracing text); anything
/// else is an `info` message as it is.
pub fn parse_line(line: &str) -> ShimLine {
    let line = line.trim_end();
    parse_json(line)
        .or_else(|| parse_logfmt(line))
        .or_else(|| parse_tracing(line))
        .unwrap_or_else(|| ShimLine {
            level: tracing::Level::INFO,
            msg: line.to_owned(),
            fields: Vec::new(),
        })
}

fn from_pairs(pairs: Vec<(String, String)>) -> Option<ShimLine> {
    let mut level_found = None;
    let mut msg = None;
    let mut fields = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "level" => level_found = level(&v),
            "msg" => msg = Some(v),
            "time" => {}
            _ => fields.push((k, v)),
        }
    }
    Some(ShimLine {
        level: level_found?,
        msg: msg?,
        fields,
    })
}

fn parse_json(line: &str) -> Option<ShimLine> {
    let serde_json::Value::Object(map) = serde_json::from_str(line).ok()? else {
        return None;
    };
    let pairs = map
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        })
        .collect();
    from_pairs(pairs)
}

/// logrus's text format: `key=value` pairs, values quoted when needed.
fn parse_logfmt(line: &str) -> Option<ShimLine> {
    let mut pairs = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = &rest[..eq];
        if key.is_empty() || key.contains(' ') {
            return None;
        }
        rest = &rest[eq + 1..];
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => out.push('\n'),
                        Some((_, 't')) => out.push('\t'),
                        Some((_, other)) => out.push(other),
                        None => return None,
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    other => out.push(other),
                }
            }
            rest = &quoted[end? + 1..];
            value = out;
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            value = rest[..end].to_owned();
            rest = &rest[end..];
        }
        pairs.push((key.to_owned(), value));
        rest = rest.trim_start();
    }
    from_pairs(pairs)
}

/// tracing's default text format: a timestamp, a level, then the message
/// (with any fields after it).
fn parse_tracing(line: &str) -> Option<ShimLine> {
    let mut parts = line.split_whitespace();
    let time = parts.next()?;
    if !time.as_bytes().first()?.is_ascii_digit() || !time.contains('T') {
        return None;
    }
    let level = level(parts.next()?)?;
    let rest = line.split_once(time)?.1.trim_start();
    let msg = rest.split_once(char::is_whitespace)?.1.trim_start();
    Some(ShimLine {
        level,
        msg: msg.to_owned(),
        fields: Vec::new(),
    })
}

fn forward(line: &ShimLine, namespace: &str, id: &str) {
    let fields = line
        .fields
        .iter()
        .map(|(k, v)| {
            if v.contains(' ') || v.is_empty() {
                format!("{k}={v:?}")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    macro_rules! emit {
        ($level:expr) => {
            if fields.is_empty() {
                tracing::event!(target: "shim", $level, namespace, id, "{}", line.msg)
            } else {
                tracing::event!(target: "shim", $level, namespace, id, shim_fields = %fields, "{}", line.msg)
            }
        };
    }
    match line.level {
        tracing::Level::TRACE => emit!(tracing::Level::TRACE),
        tracing::Level::DEBUG => emit!(tracing::Level::DEBUG),
        tracing::Level::INFO => emit!(tracing::Level::INFO),
        tracing::Level::WARN => emit!(tracing::Level::WARN),
        _ => emit!(tracing::Level::ERROR),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn pairs(line: &ShimLine) -> Vec<(&str, &str)> {
        line.fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn logrus_text_lines_keep_level_message_and_fields() {
        let line = parse_line(
            r#"time="2026-12-02T05:47:20.123456789Z" level=warning msg="failed to \"read\" pid file" error="open /x: no such file" runtime=io.containerd.runc.v2"#,
        );
        assert_eq!(line.level, tracing::Level::WARN);
        assert_eq!(line.msg, r#"failed to "read" pid file"#);
        assert_eq!(
            pairs(&line),
            [
                ("error", "open /x: no such file"),
                ("runtime", "io.containerd.runc.v2")
            ]
        );
    }

    #[test]
    fn json_lines_keep_level_message_and_fields() {
        let line = parse_line(
            r#"{"level":"error","msg":"exec failed","time":"2026-12-02T05:47:20Z","pid":42}"#,
        );
        assert_eq!(line.level, tracing::Level::ERROR);
        assert_eq!(line.msg, "exec failed");
        assert_eq!(pairs(&line), [("pid", "42")]);
    }

    #[test]
    fn tracing_lines_lose_their_own_time_and_level() {
        let line = parse_line("2026-12-02T05:47:20.123456Z DEBUG task started pid=7");
        assert_eq!(line.level, tracing::Level::DEBUG);
        assert_eq!(line.msg, "task started pid=7");
        let line = parse_line("2026-12-02T05:47:20.123456Z  WARN   slow");
        assert_eq!(line.level, tracing::Level::WARN);
        assert_eq!(line.msg, "slow");
    }

    #[test]
    fn other_lines_are_info_as_written() {
        for raw in ["panic: runtime error", "a=b c", "level=loud msg=x", ""] {
            let line = parse_line(raw);
            assert_eq!(line.level, tracing::Level::INFO, "{raw}");
            assert_eq!(line.msg, raw);
            assert!(line.fields.is_empty());
        }
    }
}
