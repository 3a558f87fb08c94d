//! Public behaviour of `LocalStore`: writing, committing, resuming, reading,
//! listing and deleting content.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crated_content::{LocalStore, digest};
use crated_core::content::{IngestManager, Ingester, Manager, Provider, WriterOptions};
use crated_core::{Error, ErrorKind};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn store() -> Result<(tempfile::TempDir, LocalStore), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = LocalStore::open(dir.path().join("content"))?;
    Ok((dir, store))
}

fn options(reference: &str, total: i64, expected: &str) -> WriterOptions {
    WriterOptions {
        reference: reference.to_owned(),
        total,
        expected: expected.to_owned(),
    }
}

/// The kind and display text of an expected error.
fn failure<T>(result: Result<T, Error>) -> (Option<ErrorKind>, String) {
    match result {
        Ok(_) => (None, String::new()),
        Err(e) => (Some(e.kind()), e.to_string()),
    }
}

fn read_all(store: &LocalStore, digest: &str) -> Result<Vec<u8>, Error> {
    let reader = store.reader_at(digest)?;
    let mut out = vec![0u8; usize::try_from(reader.size()).unwrap_or(0)];
    let mut done = 0;
    while done < out.len() {
        let n = reader.read_at(&mut out[done..], done as u64)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    out.truncate(done);
    Ok(out)
}

#[test]
fn open_creates_the_layout() -> TestResult {
    let (dir, store) = store()?;
    let root = dir.path().join("content");
    assert!(root.join("blobs/sha256").is_dir());
    assert!(root.join("ingest").is_dir());
    let d = digest::of(b"x");
    let hex = &d["sha256:".len()..];
    assert_eq!(
        store.blob_path(&d)?,
        store.root().join("blobs/sha256").join(hex)
    );
    let ingest = store.ingest_data_path("my-ref");
    let expected_dir = store
        .root()
        .join("ingest")
        .join(&digest::of(b"my-ref")[7..]);
    assert_eq!(ingest, expected_dir.join("data"));
    Ok(())
}

#[test]
fn write_commit_and_read_back() -> TestResult {
    let (_dir, store) = store()?;
    let data = b"hello, content store";
    let want = digest::of(data);
    let mut w = store.writer(options("r1", data.len() as i64, &want))?;
    w.write(&data[..5])?;
    w.write(&data[5..])?;
    let status = w.status()?;
    assert_eq!(
        (status.offset, status.total),
        (data.len() as i64, data.len() as i64)
    );
    assert_eq!(status.expected, want);
    assert_eq!(w.digest(), want);
    assert_eq!(store.status("r1")?.offset, data.len() as i64);

    assert_eq!(w.commit(data.len() as i64, &want)?, want);
    assert_eq!(read_all(&store, &want)?, data);

    let info = store.info(&want)?;
    assert_eq!(
        (info.digest.as_str(), info.size),
        (want.as_str(), data.len() as i64)
    );
    assert!(info.labels.is_empty());
    let mode = fs::metadata(store.blob_path(&want)?)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o400);

    // The ingest is gone and the ref is free again.
    assert!(
        !store
            .ingest_data_path("r1")
            .parent()
            .is_some_and(Path::exists)
    );
    assert_eq!(failure(store.status("r1")).0, Some(ErrorKind::NotFound));
    assert!(store.list_statuses()?.is_empty());
    let (kind, message) = failure(w.commit(0, ""));
    assert_eq!(kind, Some(ErrorKind::FailedPrecondition), "{message}");
    assert_eq!(
        failure(w.write(b"more")).0,
        Some(ErrorKind::FailedPrecondition)
    );
    drop(w);
    let fresh = store.writer(options("r1", 0, ""))?;
    assert_eq!(fresh.status()?.offset, 0);
    Ok(())
}

#[test]
fn read_at_honours_offsets() -> TestResult {
    let (_dir, store) = store()?;
    let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let d = store.write_blob("blob", &data, "")?;
    let reader = store.reader_at(&d)?;
    assert_eq!(reader.size(), 10_000);

    let mut buf = [0u8; 16];
    assert_eq!(reader.read_at(&mut buf, 0)?, 16);
    assert_eq!(&buf[..], &data[..16]);
    assert_eq!(reader.read_at(&mut buf, 4321)?, 16);
    assert_eq!(&buf[..], &data[4321..4337]);
    assert_eq!(reader.read_at(&mut buf, 9_990)?, 10);
    assert_eq!(&buf[..10], &data[9_990..]);
    assert_eq!(reader.read_at(&mut buf, 10_000)?, 0);
    assert_eq!(reader.read_at(&mut buf, 20_000)?, 0);
    assert_eq!(read_all(&store, &d)?, data);
    Ok(())
}

#[test]
fn commit_with_wrong_digest_or_size_fails_and_leaves_the_ingest_resumable() -> TestResult {
    let (_dir, store) = store()?;
    let data = b"0123456789";
    let want = digest::of(data);
    let wrong = digest::of(b"something else");

    let mut w = store.writer(options("bad", 0, ""))?;
    w.write(data)?;
    let (kind, message) = failure(w.commit(0, &wrong));
    assert_eq!(kind, Some(ErrorKind::FailedPrecondition));
    assert_eq!(
        message,
        format!("unexpected commit digest {want}, expected {wrong}: failed precondition")
    );
    let (kind, message) = failure(w.commit(11, ""));
    assert_eq!(kind, Some(ErrorKind::FailedPrecondition));
    assert_eq!(
        message,
        "unexpected commit size 10, expected 11: failed precondition"
    );
    let (kind, message) = failure(w.commit(0, "sha256:nope"));
    assert_eq!(kind, Some(ErrorKind::InvalidArgument));
    assert!(message.contains("\"sha256:nope\""), "{message}");
    assert_eq!(failure(store.info(&want)).0, Some(ErrorKind::NotFound));
    assert_eq!(failure(store.info(&wrong)).0, Some(ErrorKind::NotFound));

    // Still held by the failed writer, and still on disk.
    assert_eq!(
        failure(store.writer(options("bad", 0, ""))).0,
        Some(ErrorKind::Unavailable)
    );
    assert_eq!(store.status("bad")?.offset, 10);
    drop(w);

    let mut w = store.writer(options("bad", 0, ""))?;
    assert_eq!(w.status()?.offset, 10);
    assert_eq!(w.digest(), want);
    assert_eq!(w.commit(10, &want)?, want);
    assert_eq!(read_all(&store, &want)?, data);
    Ok(())
}

#[test]
fn failed_commit_keeps_the_writer_usable() -> TestResult {
    let (_dir, store) = store()?;
    let mut w = store.writer(options("again", 0, ""))?;
    w.write(b"part one")?;
    let full = digest::of(b"part one, part two");
    assert_eq!(
        failure(w.commit(0, &full)).0,
        Some(ErrorKind::FailedPrecondition)
    );
    w.write(b", part two")?;
    assert_eq!(w.commit(18, &full)?, full);
    Ok(())
}

#[test]
fn resume_after_dropping_the_writer() -> TestResult {
    let (_dir, store) = store()?;
    let data = b"resumable content, written in two goes";
    let want = digest::of(data);
    let mut w = store.writer(options("resume", data.len() as i64, &want))?;
    w.write(&data[..7])?;
    let started_at = w.status()?.started_at;
    drop(w);

    let status = store.status("resume")?;
    assert_eq!((status.reference.as_str(), status.offset), ("resume", 7));
    assert_eq!(
        (status.total, status.expected.as_str()),
        (data.len() as i64, want.as_str())
    );
    assert_eq!(status.started_at, started_at);
    assert!(status.updated_at >= started_at);

    let mut w = store.writer(options("resume", 0, ""))?;
    let status = w.status()?;
    assert_eq!((status.offset, status.total), (7, data.len() as i64));
    assert_eq!(status.started_at, started_at);
    assert_eq!(w.digest(), digest::of(&data[..7]));
    w.write(&data[7..])?;
    assert_eq!(w.commit(data.len() as i64, &want)?, want);
    Ok(())
}

#[test]
fn resume_after_reopening_the_store() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("content");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let want = digest::of(&data);
    let written = 1_234_567;
    {
        let store = LocalStore::open(&root)?;
        let mut w = store.writer(options("restart", data.len() as i64, ""))?;
        w.write(&data[..written])?;
    }

    let store = LocalStore::open(&root)?;
    assert_eq!(store.status("restart")?.offset, written as i64);
    let mut w = store.writer(options("restart", data.len() as i64, &want))?;
    assert_eq!(w.status()?.offset, written as i64);
    assert_eq!(w.digest(), digest::of(&data[..written]));
    w.write(&data[written..])?;
    assert_eq!(w.commit(data.len() as i64, &want)?, want);
    assert_eq!(read_all(&store, &want)?, data);
    assert!(store.list_statuses()?.is_empty());
    Ok(())
}

#[test]
fn second_writer_for_a_held_ref_is_unavailable() -> TestResult {
    let (dir, store) = store()?;
    let mut w = store.writer(options("busy", 0, ""))?;
    w.write(b"abc")?;

    let (kind, message) = failure(store.writer(options("busy", 0, "")));
    assert_eq!(kind, Some(ErrorKind::Unavailable));
    assert!(message.starts_with("ref busy locked for "), "{message}");
    assert!(message.contains(" (since "), "{message}");
    assert!(message.ends_with("): unavailable"), "{message}");

    // Another store on the same root, from another thread, is excluded too.
    let same_root = LocalStore::open(dir.path().join("content"))?;
    let other = std::thread::spawn(move || failure(same_root.writer(options("busy", 0, ""))).0);
    assert_eq!(other.join().ok().flatten(), Some(ErrorKind::Unavailable));

    // Other refs are independent.
    drop(store.writer(options("idle", 0, ""))?);

    drop(w);
    let w = store.writer(options("busy", 0, ""))?;
    assert_eq!(w.status()?.offset, 3);
    Ok(())
}

#[test]
fn abort_removes_the_ingest() -> TestResult {
    let (_dir, store) = store()?;
    let mut w = store.writer(options("doomed", 0, ""))?;
    w.write(b"never committed")?;
    drop(w);
    store.abort("doomed")?;
    assert_eq!(failure(store.status("doomed")).0, Some(ErrorKind::NotFound));
    assert!(!store.ingest_data_path("doomed").exists());
    assert!(store.list_statuses()?.is_empty());
    let (kind, message) = failure(store.abort("doomed"));
    assert_eq!(kind, Some(ErrorKind::NotFound));
    assert_eq!(message, "ingest ref \"doomed\": not found");

    // A writer for the ref starts from scratch.
    assert_eq!(store.writer(options("doomed", 0, ""))?.status()?.offset, 0);
    Ok(())
}

#[test]
fn delete_removes_the_blob() -> TestResult {
    let (_dir, store) = store()?;
    let d = store.write_blob("gone", b"short-lived", "")?;
    store.info(&d)?;
    store.delete(&d)?;
    let (kind, message) = failure(store.info(&d));
    assert_eq!(kind, Some(ErrorKind::NotFound));
    assert_eq!(message, format!("content {d}: not found"));
    assert_eq!(failure(store.reader_at(&d)).0, Some(ErrorKind::NotFound));
    assert_eq!(failure(store.delete(&d)).0, Some(ErrorKind::NotFound));
    Ok(())
}

#[test]
fn list_returns_every_blob() -> TestResult {
    let (_dir, store) = store()?;
    assert!(store.list()?.is_empty());
    let blobs: [&[u8]; 3] = [b"one", b"two two", b""];
    let mut want: Vec<(String, i64)> = Vec::new();
    for (i, blob) in blobs.iter().enumerate() {
        let d = store.write_blob(&format!("list-{i}"), blob, "")?;
        want.push((d, blob.len() as i64));
    }
    want.sort();
    // Stray files in the blob directory are not blobs.
    fs::write(store.root().join("blobs/sha256/not-a-digest"), b"junk")?;

    let infos = store.list()?;
    let got: Vec<(String, i64)> = infos.iter().map(|i| (i.digest.clone(), i.size)).collect();
    assert_eq!(got, want);
    for info in infos {
        assert_eq!(store.info(&info.digest)?, info);
    }
    Ok(())
}

#[test]
fn list_statuses_returns_every_ingest() -> TestResult {
    let (_dir, store) = store()?;
    let expected = digest::of(b"abcdef");
    let mut held = store.writer(options("held", 6, &expected))?;
    held.write(b"abc")?;
    let mut dropped = store.writer(options("dropped", 0, ""))?;
    dropped.write(b"x")?;
    drop(dropped);
    // An ingest directory left incomplete by a crash is not listed.
    fs::create_dir(store.root().join("ingest").join("0".repeat(64)))?;

    let statuses = store.list_statuses()?;
    let got: Vec<(&str, i64, i64, &str)> = statuses
        .iter()
        .map(|s| (s.reference.as_str(), s.offset, s.total, s.expected.as_str()))
        .collect();
    assert_eq!(
        got,
        [("dropped", 1, 0, ""), ("held", 3, 6, expected.as_str())]
    );
    Ok(())
}

#[test]
fn existing_blob_is_already_exists() -> TestResult {
    let (_dir, store) = store()?;
    let data = b"duplicate";
    let d = store.write_blob("first", data, "")?;

    let (kind, message) = failure(store.writer(options("second", 0, &d)));
    assert_eq!(kind, Some(ErrorKind::AlreadyExists));
    assert_eq!(message, format!("content {d}: already exists"));

    // Without an expected digest the duplicate is found at commit, which
    // removes the ingest and frees the ref.
    let mut w = store.writer(options("third", 0, ""))?;
    w.write(data)?;
    let (kind, message) = failure(w.commit(data.len() as i64, &d));
    assert_eq!(
        (kind, message),
        (
            Some(ErrorKind::AlreadyExists),
            format!("content {d}: already exists")
        )
    );
    assert_eq!(failure(store.status("third")).0, Some(ErrorKind::NotFound));
    assert_eq!(store.writer(options("third", 0, ""))?.status()?.offset, 0);

    // write_blob treats an existing blob as success, like content.WriteBlob.
    assert_eq!(store.write_blob("fourth", data, &d)?, d);
    assert_eq!(store.write_blob("fifth", data, "")?, d);
    assert!(
        store
            .list_statuses()?
            .iter()
            .all(|s| s.reference == "third")
    );
    Ok(())
}

#[test]
fn malformed_digests_are_invalid_arguments() -> TestResult {
    let (_dir, store) = store()?;
    let bad = "sha256:ABC";
    let results = [
        failure(store.info(bad)),
        failure(store.reader_at(bad)),
        failure(store.delete(bad)),
        failure(store.blob_path(bad)),
        failure(store.writer(options("r", 0, bad))),
        failure(store.write_blob("r", b"x", bad)),
    ];
    for (kind, message) in results {
        assert_eq!(kind, Some(ErrorKind::InvalidArgument), "{message}");
        assert!(message.contains("\"sha256:ABC\""), "{message}");
    }
    let sha512 = format!("sha512:{}", "a".repeat(128));
    assert_eq!(
        failure(store.info(&sha512)).0,
        Some(ErrorKind::InvalidArgument)
    );
    assert_eq!(
        failure(store.writer(options("", 0, ""))).0,
        Some(ErrorKind::InvalidArgument)
    );
    Ok(())
}

#[test]
fn truncate_resets_offset_and_hash() -> TestResult {
    let (_dir, store) = store()?;
    let mut w = store.writer(options("trunc", 0, ""))?;
    w.write(b"garbage garbage")?;
    w.truncate(0)?;
    assert_eq!(w.status()?.offset, 0);
    assert_eq!(w.digest(), digest::of(b""));
    assert_eq!(store.status("trunc")?.offset, 0);

    w.write(b"good data")?;
    let (kind, message) = failure(w.truncate(100));
    assert_eq!(kind, Some(ErrorKind::InvalidArgument), "{message}");
    assert_eq!(failure(w.truncate(-1)).0, Some(ErrorKind::InvalidArgument));
    w.truncate(4)?;
    assert_eq!((w.status()?.offset, w.digest()), (4, digest::of(b"good")));
    w.write(b" end")?;
    let want = digest::of(b"good end");
    assert_eq!(w.commit(8, &want)?, want);
    assert_eq!(read_all(&store, &want)?, b"good end");
    Ok(())
}

#[test]
fn write_blob_verifies_and_cleans_up_on_failure() -> TestResult {
    let (_dir, store) = store()?;
    let wrong = digest::of(b"other");
    let (kind, _) = failure(store.write_blob("wb", b"data", &wrong));
    assert_eq!(kind, Some(ErrorKind::FailedPrecondition));
    assert_eq!(failure(store.status("wb")).0, Some(ErrorKind::NotFound));

    // A stale partial ingest under the same ref is restarted.
    let mut w = store.writer(options("wb", 0, ""))?;
    w.write(b"stale")?;
    drop(w);
    let d = store.write_blob("wb", b"data", &digest::of(b"data"))?;
    assert_eq!(read_all(&store, &d)?, b"data");
    Ok(())
}

#[test]
fn read_only_data_left_by_an_interrupted_commit_is_resumed() -> TestResult {
    let (_dir, store) = store()?;
    let mut w = store.writer(options("ro", 0, ""))?;
    w.write(b"half")?;
    drop(w);
    let data = store.ingest_data_path("ro");
    fs::set_permissions(&data, fs::Permissions::from_mode(0o444))?;

    let mut w = store.writer(options("ro", 0, ""))?;
    assert_eq!(w.status()?.offset, 4);
    w.write(b" and half")?;
    let want = digest::of(b"half and half");
    assert_eq!(w.commit(0, &want)?, want);
    Ok(())
}

#[test]
fn conflicting_total_on_resume_restarts_the_ingest() -> TestResult {
    let (_dir, store) = store()?;
    let mut w = store.writer(options("t", 10, ""))?;
    w.write(b"12345")?;
    drop(w);
    let w = store.writer(options("t", 20, ""))?;
    let status = w.status()?;
    assert_eq!((status.offset, status.total), (0, 20));
    Ok(())
}
