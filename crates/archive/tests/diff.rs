//! Computing layers: diff → apply reproduces the upper tree; overlay
//! upper directories convert to OCI layers and back. Runs as root (chown,
//! device nodes, `trusted.` xattrs).

// Test code: helpers fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use common::{E, at, entry_names, layer, set_mtime, sha256, snapshot, tmp};
use crated_archive::{
    ApplyOptions, Compression, Compressor, Whiteouts, apply, decompress, diff, diff_overlay_upper,
};
use crated_core::ErrorKind;

fn base_layer() -> Vec<u8> {
    layer(&[
        E::dir("a/", 0o755),
        E::file("a/modified", b"old", 0o644),
        E::file("a/same_size", b"aaaa", 0o644),
        E::file("a/chmod", b"c", 0o644),
        E::file("a/chown", b"c", 0o644),
        E::file("a/xattr", b"x", 0o644),
        E::file("a/deleted", b"d", 0o644),
        E::file("a/unmod", b"u", 0o644),
        E::file("a/untouched", b"t", 0o644),
        E::dir("gone/", 0o755),
        E::dir("gone/sub/", 0o755),
        E::file("gone/sub/f", b"f", 0o644),
        E::file("file_to_dir", b"f", 0o644),
        E::dir("dir_to_file/", 0o755),
        E::file("dir_to_file/inner", b"i", 0o644),
        E::symlink("s", "aaa"),
        E::dir("quiet/", 0o700),
        E::file("quiet/f", b"q", 0o600),
    ])
}

fn apply_plain(tar: &[u8], root: &Path) -> crated_archive::ApplyStats {
    apply(tar, root, ApplyOptions::default()).unwrap()
}

/// Changes `upper` (a copy of the base layer) in every way a layer can.
fn mutate(u: &Path) {
    let t = 1_700_000_000;
    std::fs::write(at(u, "a/modified"), b"new content").unwrap();
    set_mtime(&at(u, "a/modified"), t);
    std::fs::write(at(u, "a/same_size"), b"bbbb").unwrap();
    set_mtime(&at(u, "a/same_size"), 1_600_000_000);
    std::fs::set_permissions(at(u, "a/chmod"), PermissionsExt::from_mode(0o4711)).unwrap();
    std::os::unix::fs::chown(at(u, "a/chown"), Some(1000), Some(1000)).unwrap();
    rustix::fs::setxattr(
        at(u, "a/xattr"),
        "user.k",
        b"v",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    std::fs::remove_file(at(u, "a/deleted")).unwrap();
    std::fs::remove_dir_all(at(u, "gone")).unwrap();
    std::fs::remove_file(at(u, "file_to_dir")).unwrap();
    std::fs::create_dir(at(u, "file_to_dir")).unwrap();
    std::fs::write(at(u, "file_to_dir/child"), b"c").unwrap();
    std::fs::remove_dir_all(at(u, "dir_to_file")).unwrap();
    std::fs::write(at(u, "dir_to_file"), b"now a file").unwrap();
    std::fs::remove_file(at(u, "s")).unwrap();
    symlink("bbb", at(u, "s")).unwrap();
    set_mtime(&at(u, "s"), 1_600_000_000);
    // New entries of every kind.
    std::fs::create_dir_all(at(u, "new/deep/er")).unwrap();
    std::fs::write(at(u, "new/deep/er/file"), vec![9u8; 100_000]).unwrap();
    symlink("../a/modified", at(u, "new/link")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        at(u, "new/null"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        at(u, "new/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    // Hardlinks: a new pair, and new links to files the diff sees as
    // unmodified (before and after them in walk order).
    std::fs::write(at(u, "new/h1"), b"linked").unwrap();
    std::fs::hard_link(at(u, "new/h1"), at(u, "new/h2")).unwrap();
    std::fs::hard_link(at(u, "a/unmod"), at(u, "z_link_to_unmod")).unwrap();
    std::fs::hard_link(at(u, "a/untouched"), at(u, "0_link_to_untouched")).unwrap();
    for p in [
        "a/modified",
        "file_to_dir/child",
        "dir_to_file",
        "new/deep/er/file",
        "new/link",
        "new/null",
        "new/fifo",
        "new/h1",
    ] {
        set_mtime(&at(u, p), t);
    }
}

#[test]
#[ignore = "requires root"]
fn diff_then_apply_reproduces_the_upper_tree() {
    let base = base_layer();
    let (lower, upper, result) = (tmp(), tmp(), tmp());
    apply_plain(&base, lower.path());
    apply_plain(&base, upper.path());
    mutate(upper.path());

    let mut out = Vec::new();
    let stats = diff(lower.path(), upper.path(), &mut out).unwrap();
    assert_eq!(stats.diff_id, sha256(&out));
    assert_eq!(stats.size, out.len() as u64);
    assert_eq!(stats.whiteouts, 2);
    let names = entry_names(&out);
    assert_eq!(stats.entries as usize, names.len());
    for expected in [
        "a/.wh.deleted",
        ".wh.gone",
        "a/modified",
        "a/same_size",
        "s",
        "new/h2",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    // a/untouched and a/unmod are unchanged but now share inodes with new
    // files: they come as hardlinks.
    for unexpected in ["quiet/", "quiet/f"] {
        assert!(
            !names.iter().any(|n| n == unexpected),
            "{unexpected} in {names:?}"
        );
    }
    let mut sorted_check = names.clone();
    sorted_check.dedup();
    assert_eq!(
        sorted_check.len(),
        names.len(),
        "duplicate entries: {names:?}"
    );

    apply_plain(&base, result.path());
    let applied = apply_plain(&out, result.path());
    assert_eq!(applied.diff_id, stats.diff_id);
    assert_eq!(
        snapshot(result.path(), false),
        snapshot(upper.path(), false)
    );
}

#[test]
#[ignore = "requires root"]
fn diffs_are_deterministic_and_empty_for_equal_trees() {
    let base = base_layer();
    let (lower, upper) = (tmp(), tmp());
    apply_plain(&base, lower.path());
    apply_plain(&base, upper.path());
    let mut empty = Vec::new();
    let stats = diff(lower.path(), upper.path(), &mut empty).unwrap();
    assert_eq!(stats.entries, 0);
    assert_eq!(empty, vec![0u8; 1024]);

    mutate(upper.path());
    let mut a = Vec::new();
    let mut b = Vec::new();
    let sa = diff(lower.path(), upper.path(), &mut a).unwrap();
    let sb = diff(lower.path(), upper.path(), &mut b).unwrap();
    assert_eq!(a, b);
    assert_eq!(sa, sb);
}

#[test]
#[ignore = "requires root"]
fn diff_from_an_empty_lower_is_the_whole_tree() {
    let base = base_layer();
    let (empty, upper, result) = (tmp(), tmp(), tmp());
    apply_plain(&base, upper.path());
    let mut out = Vec::new();
    diff(empty.path(), upper.path(), &mut out).unwrap();
    apply_plain(&out, result.path());
    assert_eq!(snapshot(result.path(), true), snapshot(upper.path(), true));
}

fn overlay_upper(u: &Path) {
    std::fs::create_dir(at(u, "a")).unwrap();
    rustix::fs::setxattr(
        at(u, "a"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    std::fs::write(at(u, "a/new"), b"n").unwrap();
    std::fs::create_dir(at(u, "b")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        at(u, "b/gone"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();
    std::fs::write(at(u, "c"), b"c").unwrap();
    std::fs::write(at(u, "h1"), b"h").unwrap();
    std::fs::hard_link(at(u, "h1"), at(u, "h2")).unwrap();
    rustix::fs::setxattr(
        at(u, "c"),
        "user.keep",
        b"1",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    rustix::fs::setxattr(
        at(u, "c"),
        "trusted.overlay.origin",
        b"x",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    for p in ["a", "a/new", "b", "b/gone", "c", "h1"] {
        set_mtime(&at(u, p), 1_650_000_000);
    }
}

#[test]
#[ignore = "requires root"]
fn overlay_upper_converts_to_oci_and_back() {
    let upper = tmp();
    overlay_upper(upper.path());
    let mut out = Vec::new();
    let stats = diff_overlay_upper(upper.path(), &mut out).unwrap();
    assert_eq!(stats.whiteouts, 2);
    assert_eq!(
        entry_names(&out),
        [
            "a/",
            "a/.wh..wh..opq",
            "a/new",
            "b/",
            "b/.wh.gone",
            "c",
            "h1",
            "h2"
        ]
    );
    let mut ar = tar::Archive::new(out.as_slice());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path_bytes().as_ref() == b"h2" {
            assert_eq!(e.header().entry_type(), tar::EntryType::Link);
            assert_eq!(e.link_name_bytes().unwrap().as_ref(), b"h1");
        }
        if let Some(pax) = e.pax_extensions().unwrap() {
            for r in pax {
                assert!(!r.unwrap().key().unwrap().contains("trusted."));
            }
        }
    }

    // Back to an overlay upper: the same tree, opaque xattr and devices.
    let again = tmp();
    let options = ApplyOptions {
        whiteouts: Whiteouts::Overlay,
        ..ApplyOptions::default()
    };
    apply(out.as_slice(), again.path(), options).unwrap();
    let mut want = snapshot(upper.path(), true);
    want.get_mut("c")
        .unwrap()
        .xattrs
        .retain(|(k, _)| !k.starts_with("trusted."));
    // Whiteout devices get no times from the layer (as in containerd).
    want.get_mut("b/gone").unwrap().mtime = None;
    let mut got = snapshot(again.path(), true);
    got.get_mut("b/gone").unwrap().mtime = None;
    assert_eq!(got, want);

    // Onto a merged tree.
    let merged = tmp();
    let lower = layer(&[
        E::dir("a/", 0o755),
        E::file("a/old", b"o", 0o644),
        E::dir("b/", 0o755),
        E::file("b/gone", b"g", 0o644),
        E::file("b/keep", b"k", 0o644),
    ]);
    apply_plain(&lower, merged.path());
    apply_plain(&out, merged.path());
    let names: Vec<String> = snapshot(merged.path(), false).into_keys().collect();
    assert_eq!(names, ["a", "a/new", "b", "b/keep", "c", "h1", "h2"]);
}

#[test]
#[ignore = "requires root"]
fn overlay_redirects_are_refused() {
    let upper = tmp();
    std::fs::create_dir(at(upper.path(), "moved")).unwrap();
    rustix::fs::setxattr(
        at(upper.path(), "moved"),
        "trusted.overlay.redirect",
        b"/orig",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    let err = diff_overlay_upper(upper.path(), Vec::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition, "{err}");
}

#[test]
#[ignore = "requires root"]
fn compressed_round_trips() {
    let base = base_layer();
    let (lower, upper) = (tmp(), tmp());
    apply_plain(&base, lower.path());
    apply_plain(&base, upper.path());
    mutate(upper.path());
    for compression in [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Uncompressed,
    ] {
        let mut w = Compressor::new(Vec::new(), compression).unwrap();
        let stats = diff(lower.path(), upper.path(), &mut w).unwrap();
        let blob = w.finish().unwrap();
        let (found, reader) = decompress(blob.as_slice()).unwrap();
        assert_eq!(found, compression);
        let result = tmp();
        apply_plain(&base, result.path());
        let applied = apply(reader, result.path(), ApplyOptions::default()).unwrap();
        assert_eq!(applied.diff_id, stats.diff_id, "{compression}");
        assert_eq!(
            snapshot(result.path(), false),
            snapshot(upper.path(), false)
        );
    }
}

#[test]
#[ignore = "requires root"]
fn compression_of_a_layer_file() {
    let tar = base_layer();
    let mut w = Compressor::new(Vec::new(), Compression::Zstd).unwrap();
    w.write_all(&tar).unwrap();
    let blob = w.finish().unwrap();
    let root = tmp();
    let (_, reader) = crated_archive::decompress_media_type(
        Compression::Zstd.layer_media_type(),
        blob.as_slice(),
    )
    .unwrap();
    let stats = apply(reader, root.path(), ApplyOptions::default()).unwrap();
    assert_eq!(stats.diff_id, sha256(&tar));
}
