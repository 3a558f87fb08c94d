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

/// Prints `value` as JSON indented by four spaces, as ctr's
/// `commands.PrintAsJSON` (Go's `json.MarshalIndent(x, "", "    ")`).
pub fn print_json_go<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut serializer).context("writing JSON")?;
    out.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out).context("writing JSON")?;
    stdout.flush().context("writing JSON")
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
