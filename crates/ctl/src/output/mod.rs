//! Printing: aligned tables, human-readable values, JSON.

pub mod human;
pub mod table;

use std::io::Write;

use anyhow::Context;
use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value).context("writing JSON")?;
    writeln!(stdout).context("writing JSON")?;
    Ok(())
}

/// A time for JSON output: RFC 3339 in UTC, `Z` suffix.
pub fn json_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Prints `text` on stdout as is.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .context("writing output")?;
    stdout.flush().context("writing output")
}
