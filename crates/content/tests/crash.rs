//! Crash safety: a writer process killed with SIGKILL mid-ingest leaves a
//! consistent store whose ingest can be resumed by a new process.

use std::env;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crated_content::{LocalStore, digest};
use crated_core::content::{IngestManager, Ingester, Manager, WriterOptions};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const CHILD_ROOT: &str = "CRATED_CONTENT_CRASH_CHILD_ROOT";
const REFERENCE: &str = "crash-ref";
const WRITTEN: usize = 300_000;

fn content() -> Vec<u8> {
    (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(7919) >> 3) as u8)
        .collect()
}

/// In the child: write part of the content, report, then wait to be killed.
fn child(root: &str) -> TestResult {
    let store = LocalStore::open(root)?;
    let data = content();
    let mut w = store.writer(WriterOptions {
        reference: REFERENCE.to_owned(),
        total: data.len() as i64,
        expected: digest::of(&data),
    })?;
    for chunk in data[..WRITTEN].chunks(4096) {
        w.write(chunk)?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "CHILD-READY")?;
    out.flush()?;
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

#[test]
fn sigkilled_writer_leaves_a_resumable_ingest() -> TestResult {
    if let Ok(root) = env::var(CHILD_ROOT) {
        return child(&root);
    }
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("content");
    let mut proc = Command::new(env::current_exe()?)
        .args([
            "--exact",
            "sigkilled_writer_leaves_a_resumable_ingest",
            "--nocapture",
        ])
        .env(CHILD_ROOT, &root)
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = proc.stdout.take().ok_or("child has no stdout")?;
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("CHILD-READY"));
    proc.kill()?; // SIGKILL
    proc.wait()?;
    assert!(ready, "child never reported progress");

    let data = content();
    let want = digest::of(&data);
    let store = LocalStore::open(&root)?;
    assert!(
        store.list()?.is_empty(),
        "no blob may appear from a killed writer"
    );
    let statuses = store.list_statuses()?;
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].reference, REFERENCE);
    assert_eq!(statuses[0].offset, WRITTEN as i64);
    assert_eq!(statuses[0].total, data.len() as i64);
    assert_eq!(statuses[0].expected, want);

    // The killed process's lock died with it.
    let mut w = store.writer(WriterOptions {
        reference: REFERENCE.to_owned(),
        total: data.len() as i64,
        expected: want.clone(),
    })?;
    assert_eq!(w.status()?.offset, WRITTEN as i64);
    w.write(&data[WRITTEN..])?;
    assert_eq!(w.commit(data.len() as i64, &want)?, want);
    assert_eq!(store.info(&want)?.size, data.len() as i64);
    assert!(store.list_statuses()?.is_empty());
    Ok(())
}
