//! The checks every content store passes: writing, resuming, committing
//! (and failing to), ref locking, ingest status, reading and deleting.

use std::sync::atomic::{AtomicU64, Ordering};

use crated_core::ErrorKind;
use crated_core::content::{ContentStore, Writer, WriterOptions};

use super::{CheckResult, Failure, ensure, expect_kind};
use crate::digest;

/// `len` bytes that differ from call to call, and their digest.
pub(super) fn content(len: usize) -> (Vec<u8>, String) {
    static SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let mut x = SEED.fetch_add(0x2545_f491_4f6c_dd1d, Ordering::Relaxed) | 1;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            // xorshift64: cheap, deterministic, good enough to tell blobs apart.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect();
    let d = digest::of(&data);
    (data, d)
}

/// A writer for `reference` with the given expectations.
pub(super) fn open(
    cs: &dyn ContentStore,
    reference: &str,
    total: i64,
    expected: &str,
) -> crated_core::Result<Box<dyn Writer>> {
    cs.writer(WriterOptions {
        reference: reference.to_string(),
        total,
        expected: expected.to_string(),
    })
}

/// Writes `data` in 32-byte pieces.
fn write_chunked(w: &mut dyn Writer, data: &[u8]) -> CheckResult {
    for piece in data.chunks(32) {
        w.write(piece)?;
    }
    Ok(())
}

/// Writes `data` under `reference` and commits it.
pub(super) fn write_blob(cs: &dyn ContentStore, reference: &str, data: &[u8]) -> CheckResult {
    let mut w = open(cs, reference, 0, "")?;
    w.write(data)?;
    w.commit(data.len() as i64, &digest::of(data))?;
    Ok(())
}

/// Reads the whole blob `d` through `reader_at`.
pub(super) fn read_all(cs: &dyn ContentStore, d: &str) -> Result<Vec<u8>, Failure> {
    let r = cs.reader_at(d)?;
    let mut out = vec![0; usize::try_from(r.size()).unwrap_or(0)];
    let mut at = 0;
    while at < out.len() {
        let n = r.read_at(&mut out[at..], at as u64)?;
        ensure!(n > 0, "reader of {d} ended at {at} of {} bytes", out.len());
        at += n;
    }
    Ok(out)
}

/// Four writers with each combination of expected size and digest, written
/// in small pieces, commit what was written.
pub fn writer(cs: &dyn ContentStore) -> CheckResult {
    let blobs: Vec<_> = (0..4).map(|_| content(256)).collect();
    let mut writers = Vec::new();
    for (i, (data, d)) in blobs.iter().enumerate() {
        let total = if i % 2 == 1 { data.len() as i64 } else { 0 };
        let expected = if i >= 2 { d.as_str() } else { "" };
        writers.push(open(cs, &format!("c{i}"), total, expected)?);
    }
    for ((data, d), w) in blobs.iter().zip(writers.iter_mut()) {
        write_chunked(w.as_mut(), data)?;
        ensure!(&w.digest() == d, "writer digest {}, want {d}", w.digest());
        let committed = w.commit(0, "")?;
        ensure!(&committed == d, "committed {committed}, want {d}");
        let info = cs.info(d)?;
        ensure!(
            info.digest == *d && info.size == data.len() as i64,
            "info after commit: {info:?}"
        );
        ensure!(
            info.created_at <= info.updated_at,
            "created after updated: {info:?}"
        );
        ensure!(read_all(cs, d)? == *data, "blob {d} reads back other bytes");
    }
    ensure!(
        cs.list_statuses()?.is_empty(),
        "ingests left after their commits: {:?}",
        cs.list_statuses()?
    );
    Ok(())
}

/// The writer's status follows what was written; the ingest is gone after
/// the commit.
pub fn update_status(cs: &dyn ContentStore) -> CheckResult {
    let (data, d) = content(256);
    let mut w = open(cs, "c1", 256, &d)?;
    let s = w.status()?;
    ensure!(
        s.reference == "c1" && s.offset == 0 && s.total == 256 && s.expected == d,
        "status of a new writer: {s:?}"
    );
    ensure!(
        w.digest() == digest::of(&[]),
        "digest of a new writer: {}",
        w.digest()
    );
    for end in [64, 192, 256] {
        let start = usize::try_from(w.status()?.offset).unwrap_or(0);
        w.write(&data[start..end])?;
        let s = w.status()?;
        ensure!(
            s.offset == end as i64 && s.total == 256 && s.expected == d,
            "status after {end} bytes: {s:?}"
        );
        ensure!(
            w.digest() == digest::of(&data[..end]),
            "digest after {end} bytes"
        );
        ensure!(s.started_at <= s.updated_at, "started after updated: {s:?}");
        let listed = cs.status("c1")?;
        ensure!(
            listed.offset == end as i64,
            "store's status after {end} bytes: {listed:?}"
        );
    }
    w.commit(0, "")?;
    expect_kind(
        "status of a committed ingest",
        cs.status("c1"),
        ErrorKind::NotFound,
    )
}

/// Committing bytes that are already a blob answers `AlreadyExists`, with
/// or without the expected digest, and removes the ingest.
pub fn commit_exists(cs: &dyn ContentStore) -> CheckResult {
    let (data, d) = content(256);
    write_blob(cs, "c1", &data)?;
    for (i, expected) in [d.as_str(), ""].into_iter().enumerate() {
        let reference = format!("c1-exists-{i}");
        let mut w = open(cs, &reference, 0, "")?;
        w.write(&data)?;
        expect_kind(
            &format!("commit of an existing blob (expected {expected:?})"),
            w.commit(data.len() as i64, expected),
            ErrorKind::AlreadyExists,
        )?;
        drop(w);
        expect_kind(
            "status of the ingest after AlreadyExists",
            cs.status(&reference),
            ErrorKind::NotFound,
        )?;
    }
    ensure!(read_all(cs, &d)? == data, "the existing blob changed");
    Ok(())
}

/// Opening a writer that expects a digest already stored answers
/// `AlreadyExists` and leaves no ingest.
pub fn writer_for_existing_blob(cs: &dyn ContentStore) -> CheckResult {
    let (data, d) = content(100);
    write_blob(cs, "first", &data)?;
    expect_kind(
        "writer expecting a stored digest",
        open(cs, "second", data.len() as i64, &d),
        ErrorKind::AlreadyExists,
    )?;
    expect_kind(
        "status of the refused ref",
        cs.status("second"),
        ErrorKind::NotFound,
    )
}

/// A dropped writer's bytes stay; a writer for the same ref resumes them.
pub fn resume(cs: &dyn ContentStore) -> CheckResult {
    let (data, d) = content(256);
    let (first, second) = data.split_at(128);
    let mut w = open(cs, "cb", 256, &d)?;
    w.write(first)?;
    let before = w.status()?;
    drop(w);
    let mut w = open(cs, "cb", 256, &d)?;
    let s = w.status()?;
    ensure!(
        s.offset == 128 && s.total == 256 && s.expected == d,
        "status after resuming: {s:?}"
    );
    ensure!(
        s.started_at == before.started_at,
        "resuming changed the start time: {s:?}, before {before:?}"
    );
    ensure!(
        w.digest() == digest::of(first),
        "digest after resuming: {}",
        w.digest()
    );
    w.write(second)?;
    let committed = w.commit(256, &d)?;
    ensure!(committed == d, "committed {committed}, want {d}");
    ensure!(
        read_all(cs, &d)? == data,
        "resumed blob reads back other bytes"
    );
    Ok(())
}

/// A resumed writer truncated to 0 starts over.
pub fn resume_truncate(cs: &dyn ContentStore) -> CheckResult {
    let (data, d) = content(256);
    let (garbage, _) = content(100);
    let mut w = open(cs, "ct", 256, &d)?;
    w.write(&garbage)?;
    drop(w);
    let mut w = open(cs, "ct", 256, &d)?;
    w.truncate(0)?;
    let s = w.status()?;
    ensure!(s.offset == 0, "offset after truncate(0): {s:?}");
    ensure!(
        w.digest() == digest::of(&[]),
        "digest after truncate(0): {}",
        w.digest()
    );
    write_chunked(w.as_mut(), &data)?;
    w.commit(256, &d)?;
    ensure!(
        read_all(cs, &d)? == data,
        "blob after truncate reads back other bytes"
    );
    Ok(())
}

/// An aborted ingest is gone; the same ref starts from nothing.
pub fn resume_discard(cs: &dyn ContentStore) -> CheckResult {
    let (data, d) = content(256);
    let mut w = open(cs, "cd", 256, &d)?;
    w.write(&data[..100])?;
    drop(w);
    cs.abort("cd")?;
    expect_kind("status after abort", cs.status("cd"), ErrorKind::NotFound)?;
    let mut w = open(cs, "cd", 256, &d)?;
    let s = w.status()?;
    ensure!(s.offset == 0, "offset of a ref reopened after abort: {s:?}");
    w.write(&data)?;
    w.commit(256, &d)?;
    Ok(())
}

/// One-byte and empty blobs commit and read back.
pub fn small_and_empty_blobs(cs: &dyn ContentStore) -> CheckResult {
    for data in [&b"A"[..], &b""[..]] {
        let d = digest::of(data);
        let mut w = open(cs, &format!("small-{}", data.len()), data.len() as i64, &d)?;
        w.write(data)?;
        let committed = w.commit(data.len() as i64, &d)?;
        ensure!(committed == d, "committed {committed}, want {d}");
        let info = cs.info(&d)?;
        ensure!(info.size == data.len() as i64, "info of {d}: {info:?}");
        ensure!(read_all(cs, &d)? == data, "blob {d} reads back other bytes");
        let mut one = [0u8; 1];
        ensure!(
            cs.reader_at(&d)?.read_at(&mut one, data.len() as u64)? == 0,
            "a read at the end of {d} returned bytes"
        );
    }
    Ok(())
}

/// A commit with the wrong digest or size fails with `FailedPrecondition`
/// and keeps the ingest, which a new writer for the ref resumes and commits.
pub fn commit_error_state(cs: &dyn ContentStore) -> CheckResult {
    let (data, _) = content(256);
    let (_, other) = content(256);
    let mut longer = data.clone();
    longer.extend_from_slice(b"more");
    let mut w = open(cs, "ce", 0, "")?;
    w.write(&longer)?;
    expect_kind(
        "commit with the wrong digest",
        w.commit(longer.len() as i64, &other),
        ErrorKind::FailedPrecondition,
    )?;
    drop(w);
    let mut w = open(cs, "ce", 0, "")?;
    ensure!(
        w.status()?.offset == longer.len() as i64,
        "a failed commit lost the ingest's bytes: {:?}",
        w.status()?
    );
    expect_kind(
        "commit with the wrong size",
        w.commit(data.len() as i64, ""),
        ErrorKind::FailedPrecondition,
    )?;
    drop(w);
    let mut w = open(cs, "ce", 0, "")?;
    let d = w.commit(longer.len() as i64, "")?;
    ensure!(d == digest::of(&longer), "committed {d}");
    drop(w);
    // The ref is free again after the commit.
    let w = open(cs, "ce", 0, "")?;
    ensure!(
        w.status()?.offset == 0,
        "a ref reused after its commit resumed old bytes: {:?}",
        w.status()?
    );
    Ok(())
}

/// A ref held by an open writer is `Unavailable` to another writer until
/// the first is dropped or commits.
pub fn ref_locking(cs: &dyn ContentStore) -> CheckResult {
    let (data, d) = content(64);
    let mut w = open(cs, "locked", 0, "")?;
    w.write(&data[..10])?;
    expect_kind(
        "second writer on a held ref",
        open(cs, "locked", 0, ""),
        ErrorKind::Unavailable,
    )?;
    drop(w);
    let mut w = open(cs, "locked", 0, "")?;
    expect_kind(
        "second writer on a resumed ref",
        open(cs, "locked", 0, ""),
        ErrorKind::Unavailable,
    )?;
    w.write(&data[10..])?;
    w.commit(64, &d)?;
    drop(w);
    let w = open(cs, "locked", 0, "")?;
    drop(w);
    Ok(())
}

/// Ingests are listed with their state; abort removes one and only one;
/// aborting a missing ref is `NotFound`.
pub fn status_list_abort(cs: &dyn ContentStore) -> CheckResult {
    let (a, da) = content(50);
    let mut wa = open(cs, "a", 50, &da)?;
    wa.write(&a[..20])?;
    let mut wb = open(cs, "b", 0, "")?;
    wb.write(&a[..5])?;
    drop(wb);
    let mut listed: Vec<_> = cs
        .list_statuses()?
        .into_iter()
        .map(|s| (s.reference, s.offset))
        .collect();
    listed.sort();
    ensure!(
        listed == vec![("a".to_string(), 20), ("b".to_string(), 5)],
        "listed ingests: {listed:?}"
    );
    let s = cs.status("a")?;
    ensure!(
        s.total == 50 && s.expected == da,
        "status of ingest a: {s:?}"
    );
    cs.abort("b")?;
    expect_kind("status after abort", cs.status("b"), ErrorKind::NotFound)?;
    expect_kind(
        "abort of an aborted ref",
        cs.abort("b"),
        ErrorKind::NotFound,
    )?;
    expect_kind(
        "abort of a missing ref",
        cs.abort("never"),
        ErrorKind::NotFound,
    )?;
    expect_kind(
        "status of a missing ref",
        cs.status("never"),
        ErrorKind::NotFound,
    )?;
    ensure!(cs.status("a")?.offset == 20, "abort of b changed a");
    wa.write(&a[20..])?;
    wa.commit(50, &da)?;
    Ok(())
}

/// `reader_at` reads at any offset, short at the end, nothing past it.
pub fn reader_at(cs: &dyn ContentStore) -> CheckResult {
    let (data, d) = content(1000);
    write_blob(cs, "r", &data)?;
    let r = cs.reader_at(&d)?;
    ensure!(r.size() == 1000, "reader size {}", r.size());
    for (offset, len) in [(0usize, 10usize), (500, 100), (990, 10)] {
        let mut buf = vec![0; len];
        let mut got = 0;
        while got < len {
            let n = r.read_at(&mut buf[got..], (offset + got) as u64)?;
            ensure!(n > 0, "read at {} returned nothing", offset + got);
            got += n;
        }
        ensure!(
            buf == data[offset..offset + len],
            "bytes at {offset}..{} differ",
            offset + len
        );
    }
    let mut buf = vec![0; 100];
    let n = r.read_at(&mut buf, 950)?;
    ensure!(n <= 50, "read across the end returned {n} bytes");
    ensure!(
        buf[..n] == data[950..950 + n],
        "bytes across the end differ"
    );
    ensure!(
        r.read_at(&mut buf, 1000)? == 0 && r.read_at(&mut buf, 5000)? == 0,
        "a read past the end returned bytes"
    );
    Ok(())
}

/// Committed blobs are listed; a deleted one is gone everywhere and a
/// second delete is `NotFound`.
pub fn list_and_delete(cs: &dyn ContentStore) -> CheckResult {
    let (a, da) = content(10);
    let (b, db) = content(20);
    write_blob(cs, "a", &a)?;
    write_blob(cs, "b", &b)?;
    let mut listed: Vec<_> = cs.list()?.into_iter().map(|i| (i.digest, i.size)).collect();
    listed.sort();
    let mut want = vec![(da.clone(), 10), (db.clone(), 20)];
    want.sort();
    ensure!(listed == want, "listed {listed:?}, want {want:?}");
    cs.delete(&da)?;
    expect_kind("info after delete", cs.info(&da), ErrorKind::NotFound)?;
    expect_kind(
        "reader after delete",
        cs.reader_at(&da),
        ErrorKind::NotFound,
    )?;
    expect_kind("second delete", cs.delete(&da), ErrorKind::NotFound)?;
    let listed: Vec<_> = cs.list()?.into_iter().map(|i| i.digest).collect();
    ensure!(
        listed == vec![db.clone()],
        "listed after delete: {listed:?}"
    );
    ensure!(read_all(cs, &db)? == b, "delete of a changed b");
    // The bytes can be written again.
    write_blob(cs, "a-again", &a)?;
    ensure!(
        read_all(cs, &da)? == a,
        "rewritten blob reads back other bytes"
    );
    Ok(())
}

/// Malformed digests are `InvalidArgument`; well-formed missing ones are
/// `NotFound`.
pub fn bad_digests(cs: &dyn ContentStore) -> CheckResult {
    for bad in ["", "sha256:abc", "md5:0123", "sha256:../../etc/passwd"] {
        expect_kind(
            &format!("info of {bad:?}"),
            cs.info(bad),
            ErrorKind::InvalidArgument,
        )?;
        expect_kind(
            &format!("delete of {bad:?}"),
            cs.delete(bad),
            ErrorKind::InvalidArgument,
        )?;
    }
    let missing = digest::of(b"never written");
    expect_kind(
        "info of a missing blob",
        cs.info(&missing),
        ErrorKind::NotFound,
    )?;
    expect_kind(
        "reader of a missing blob",
        cs.reader_at(&missing),
        ErrorKind::NotFound,
    )?;
    Ok(())
}
