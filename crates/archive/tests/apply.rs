//! Applying layers: entry types, metadata, replacement, whiteouts in both
//! modes. Tests that create device nodes or chown run as root (the test
//! environment); they fail with a permission error otherwise.

// Test code: helpers fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt;

use common::{E, at, info, layer, sha256, snapshot, tmp, xattrs};
use crated_archive::{ApplyOptions, Whiteouts, apply};
use crated_core::ErrorKind;

fn apply_bytes(
    tar: &[u8],
    root: &std::path::Path,
) -> crated_core::Result<crated_archive::ApplyStats> {
    apply(tar, root, ApplyOptions::default())
}

fn overlay() -> ApplyOptions {
    ApplyOptions {
        whiteouts: Whiteouts::Overlay,
        ..ApplyOptions::default()
    }
}

/// Needs root: chown, device nodes.
#[test]
#[ignore = "requires root"]
fn applies_every_entry_type_with_metadata() {
    let root = tmp();
    let r = root.path();
    let tar = layer(&[
        E::dir("etc/", 0o755).mtime(1_500_000_000),
        E::file("etc/passwd", b"root:x:0:0\n", 0o644).mtime(1_500_000_001),
        E::file("bin/su", b"\x7fELF", 0o4755).owner(0, 0),
        E::dir("tmp/", 0o1777),
        E::dir("srv/", 0o2750)
            .owner(1000, 1001)
            .xattr("user.dir", b"d"),
        E::file("srv/data", b"12345", 0o640)
            .owner(1000, 1001)
            .xattr("user.note", b"hello\0world")
            .pax("mtime", "1600000000.25"),
        E::symlink("srv/link", "data")
            .owner(1000, 1001)
            .mtime(1_400_000_000),
        E::symlink("abs", "/etc/passwd"),
        // A hardlink header's metadata applies to the shared inode (as in
        // containerd), so writers repeat the file's.
        E::hardlink("srv/data2", "srv/data")
            .owner(1000, 1001)
            .mode(0o640)
            .pax("mtime", "1600000000.25"),
        E::char("dev/null", 1, 3),
        E::block("dev/loop0", 7, 0),
        E::fifo("run/fifo").owner(5, 6),
        E::file("trusted", b"", 0o600).xattr("trusted.evil", b"x"),
    ]);
    let stats = apply_bytes(&tar, r).unwrap();
    assert_eq!(stats.diff_id, sha256(&tar));
    assert_eq!(stats.size, tar.len() as u64);
    assert_eq!(stats.entries, 13);
    assert_eq!(stats.files, 4);
    assert_eq!(stats.dirs, 3);
    assert_eq!(stats.symlinks, 2);
    assert_eq!(stats.hardlinks, 1);
    assert_eq!(stats.devices, 3);
    assert_eq!(stats.content_bytes, 11 + 4 + 5);

    let tree = snapshot(r, true);
    let names: Vec<&str> = tree.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "abs",
            "bin",
            "bin/su",
            "dev",
            "dev/loop0",
            "dev/null",
            "etc",
            "etc/passwd",
            "run",
            "run/fifo",
            "srv",
            "srv/data",
            "srv/data2",
            "srv/link",
            "tmp",
            "trusted"
        ]
    );
    let passwd = &tree["etc/passwd"];
    assert_eq!((passwd.kind, passwd.mode, passwd.uid), ('f', 0o644, 0));
    assert_eq!(passwd.data, b"root:x:0:0\n");
    assert_eq!(passwd.mtime, Some((1_500_000_001, 0)));
    assert_eq!(tree["etc"].mtime, Some((1_500_000_000, 0)));
    assert_eq!(tree["bin/su"].mode, 0o4755);
    assert_eq!(tree["tmp"].mode, 0o1777);
    let srv = &tree["srv"];
    assert_eq!(
        (srv.kind, srv.mode, srv.uid, srv.gid),
        ('d', 0o2750, 1000, 1001)
    );
    assert_eq!(srv.xattrs, [("user.dir".to_owned(), b"d".to_vec())]);
    let data = &tree["srv/data"];
    assert_eq!((data.mode, data.uid, data.gid), (0o640, 1000, 1001));
    assert_eq!(
        data.xattrs,
        [("user.note".to_owned(), b"hello\0world".to_vec())]
    );
    assert_eq!(data.mtime, Some((1_600_000_000, 250_000_000)));
    assert_eq!(data.link_group.as_deref(), Some("srv/data"));
    assert_eq!(tree["srv/data2"].link_group.as_deref(), Some("srv/data"));
    let link = &tree["srv/link"];
    assert_eq!((link.kind, link.uid, link.gid), ('l', 1000, 1001));
    assert_eq!(link.link, b"data");
    assert_eq!(link.mtime, Some((1_400_000_000, 0)));
    assert_eq!(tree["abs"].link, b"/etc/passwd");
    let null = &tree["dev/null"];
    assert_eq!((null.kind, null.rdev, null.mode), ('c', (1, 3), 0o666));
    let lo = &tree["dev/loop0"];
    assert_eq!((lo.kind, lo.rdev, lo.mode), ('b', (7, 0), 0o660));
    let fifo = &tree["run/fifo"];
    assert_eq!((fifo.kind, fifo.uid, fifo.gid), ('p', 5, 6));
    // Implicit parents: 0755, root-owned.
    assert_eq!(
        (tree["dev"].mode, tree["bin"].mode, tree["run"].uid),
        (0o755, 0o755, 0)
    );
    // trusted.* from an archive is never set.
    assert!(tree["trusted"].xattrs.is_empty());
}

#[test]
#[ignore = "requires root"]
fn directory_times_are_set_after_their_contents() {
    let root = tmp();
    let tar = layer(&[
        E::dir("a/", 0o755).mtime(1000),
        E::dir("a/b/", 0o755).mtime(2000),
        E::file("a/b/f", b"x", 0o644).mtime(3000),
        E::file("a/g", b"y", 0o644).mtime(4000),
    ]);
    apply_bytes(&tar, root.path()).unwrap();
    let tree = snapshot(root.path(), true);
    assert_eq!(tree["a"].mtime, Some((1000, 0)));
    assert_eq!(tree["a/b"].mtime, Some((2000, 0)));
    assert_eq!(tree["a/b/f"].mtime, Some((3000, 0)));
}

#[test]
#[ignore = "requires root"]
fn directories_replaced_later_keep_their_replacements_times() {
    let outside = tmp();
    for strict in [false, true] {
        let root = tmp();
        let tar = layer(&[
            E::dir("a/", 0o755).mtime(1000),
            E::dir("a/b/", 0o755).mtime(2000),
            E::dir("c/", 0o755).mtime(3000),
            E::dir("c/b/", 0o755).mtime(4000),
            E::symlink("a", outside.path().to_str().unwrap()).mtime(5000),
            E::file("c/b", b"file", 0o644).mtime(6000),
        ]);
        let options = ApplyOptions {
            strict_paths: strict,
            ..ApplyOptions::default()
        };
        apply(tar.as_slice(), root.path(), options).unwrap();
        let tree = snapshot(root.path(), true);
        assert_eq!(tree["a"].mtime, Some((5000, 0)));
        assert_eq!(tree["c/b"].mtime, Some((6000, 0)));
        assert_eq!(tree["c"].mtime, Some((3000, 0)));
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
#[ignore = "requires root"]
fn existing_entries_are_replaced_and_dirs_merged() {
    let root = tmp();
    let r = root.path();
    let outside = tmp();
    std::fs::create_dir_all(at(r, "dir_to_file/sub")).unwrap();
    std::fs::write(at(r, "dir_to_file/sub/x"), b"x").unwrap();
    std::fs::write(at(r, "file_to_dir"), b"x").unwrap();
    std::os::unix::fs::symlink(outside.path(), at(r, "link_to_dir")).unwrap();
    std::fs::create_dir(at(r, "merge")).unwrap();
    std::fs::write(at(r, "merge/old"), b"old").unwrap();
    std::fs::write(at(r, "file"), b"old content that is longer").unwrap();
    std::fs::hard_link(at(r, "file"), at(r, "file_link")).unwrap();
    let tar = layer(&[
        E::file("dir_to_file", b"now a file", 0o600),
        E::dir("file_to_dir/", 0o711),
        E::dir("link_to_dir/", 0o700),
        E::file("link_to_dir/inside", b"i", 0o644),
        E::dir("merge/", 0o700).owner(7, 8),
        E::file("merge/new", b"new", 0o644),
        E::file("file", b"new", 0o644),
    ]);
    apply_bytes(&tar, r).unwrap();
    let tree = snapshot(r, false);
    assert_eq!(tree["dir_to_file"].data, b"now a file");
    assert!(!tree.contains_key("dir_to_file/sub"));
    assert_eq!(
        (tree["file_to_dir"].kind, tree["file_to_dir"].mode),
        ('d', 0o711)
    );
    assert_eq!(tree["link_to_dir"].kind, 'd');
    assert_eq!(tree["link_to_dir/inside"].data, b"i");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    let merge = &tree["merge"];
    assert_eq!((merge.mode, merge.uid, merge.gid), (0o700, 7, 8));
    assert_eq!(tree["merge/old"].data, b"old");
    assert_eq!(tree["merge/new"].data, b"new");
    // A new inode: the old hardlink keeps the old content.
    assert_eq!(tree["file"].data, b"new");
    assert_eq!(tree["file_link"].data, b"old content that is longer");
}

#[test]
#[ignore = "requires root"]
fn paths_follow_symlinks_inside_the_root() {
    let root = tmp();
    let r = root.path();
    let tar = layer(&[
        E::dir("usr/", 0o755),
        E::dir("usr/lib/", 0o755),
        E::symlink("lib", "usr/lib"),
        E::symlink("abs", "/usr"),
        E::file("lib/libc.so", b"c", 0o755),
        E::file("abs/lib/libm.so", b"m", 0o755),
        E::hardlink("usr/libc2", "lib/libc.so"),
    ]);
    apply_bytes(&tar, r).unwrap();
    let tree = snapshot(r, false);
    assert_eq!(tree["usr/lib/libc.so"].data, b"c");
    assert_eq!(tree["usr/lib/libm.so"].data, b"m");
    assert_eq!(
        tree["usr/libc2"].link_group.as_deref(),
        Some("usr/lib/libc.so")
    );
    assert_eq!(tree["lib"].kind, 'l');
}

#[test]
#[ignore = "requires root"]
fn hardlinks_reach_lower_layers_and_symlinks_themselves() {
    let root = tmp();
    let r = root.path();
    apply_bytes(
        &layer(&[E::file("lower", b"l", 0o644), E::symlink("sl", "lower")]),
        r,
    )
    .unwrap();
    apply_bytes(
        &layer(&[E::hardlink("upper", "lower"), E::hardlink("sl2", "sl")]),
        r,
    )
    .unwrap();
    let tree = snapshot(r, false);
    assert_eq!(tree["upper"].link_group.as_deref(), Some("lower"));
    assert_eq!(tree["sl2"].kind, 'l');
    assert_eq!(tree["sl2"].link_group.as_deref(), Some("sl"));
    let err = apply_bytes(&layer(&[E::hardlink("x", "missing")]), r).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("\"x\""), "{err}");
    let err = apply_bytes(&layer(&[E::dir("d/", 0o755), E::hardlink("y", "d")]), r).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
#[ignore = "requires root"]
fn oci_whiteouts_remove_lower_entries() {
    let root = tmp();
    let r = root.path();
    let lower = layer(&[
        E::dir("a/", 0o755),
        E::file("a/f1", b"1", 0o644),
        E::file("a/f2", b"2", 0o644),
        E::dir("b/", 0o755),
        E::file("b/deep", b"d", 0o644),
        E::file("c", b"c", 0o644),
    ]);
    apply_bytes(&lower, r).unwrap();
    let upper = layer(&[
        E::whiteout("a/.wh.f1"),
        E::whiteout(".wh.b"),
        E::whiteout(".wh.missing"),
        E::whiteout("new/.wh.nothing"),
    ]);
    let stats = apply_bytes(&upper, r).unwrap();
    assert_eq!(stats.whiteouts, 4);
    let names: Vec<String> = snapshot(r, false).into_keys().collect();
    assert_eq!(names, ["a", "a/f2", "c", "new"]);
}

#[test]
#[ignore = "requires root"]
fn oci_opaque_dirs_keep_only_this_layers_entries() {
    let root = tmp();
    let r = root.path();
    let lower = layer(&[
        E::dir("d/", 0o755),
        E::file("d/old", b"o", 0o644),
        E::dir("d/sub/", 0o755),
        E::file("d/sub/old2", b"o", 0o644),
        E::dir("e/", 0o755),
        E::file("e/old", b"o", 0o644),
        E::file("keep", b"k", 0o644),
    ]);
    apply_bytes(&lower, r).unwrap();
    let upper = layer(&[
        E::dir("d/", 0o750),
        E::whiteout("d/.wh..wh..opq"),
        E::file("d/new", b"n", 0o644),
        E::dir("d/sub/", 0o755),
        E::file("d/sub/new2", b"n", 0o644),
        // Opaque marker after this layer's own entries.
        E::dir("e/", 0o755),
        E::dir("e/sub/", 0o755),
        E::file("e/sub/mine", b"m", 0o644),
        E::file("e/mine", b"m", 0o644),
        E::whiteout("e/.wh..wh..opq"),
    ]);
    apply_bytes(&upper, r).unwrap();
    let names: Vec<String> = snapshot(r, false).into_keys().collect();
    assert_eq!(
        names,
        [
            "d",
            "d/new",
            "d/sub",
            "d/sub/new2",
            "e",
            "e/mine",
            "e/sub",
            "e/sub/mine",
            "keep"
        ]
    );
    assert_eq!(info(&at(r, "d"), false).mode, 0o750);
}

/// Needs root: whiteout devices and `trusted.` xattrs.
#[test]
#[ignore = "requires root"]
fn overlay_mode_writes_overlay_whiteouts() {
    let root = tmp();
    let r = root.path();
    let tar = layer(&[
        E::dir("d/", 0o755),
        E::whiteout("d/.wh..wh..opq"),
        E::file("d/new", b"n", 0o644),
        E::whiteout(".wh.gone").owner(3, 4),
        E::whiteout("x/y/.wh.z"),
    ]);
    let stats = apply(tar.as_slice(), r, overlay()).unwrap();
    assert_eq!(stats.whiteouts, 3);
    let tree = snapshot(r, false);
    let names: Vec<&str> = tree.keys().map(String::as_str).collect();
    assert_eq!(names, ["d", "d/new", "gone", "x", "x/y", "x/y/z"]);
    let gone = &tree["gone"];
    assert_eq!(
        (gone.kind, gone.rdev, gone.uid, gone.gid),
        ('c', (0, 0), 3, 4)
    );
    assert_eq!(tree["x/y/z"].kind, 'c');
    assert_eq!(
        tree["d"].xattrs,
        [("trusted.overlay.opaque".to_owned(), b"y".to_vec())]
    );
}

/// Needs root: copies owners from the lower directory.
#[test]
#[ignore = "requires root"]
fn overlay_parents_inherit_lower_directory_attributes() {
    let lower = tmp();
    std::fs::create_dir_all(at(lower.path(), "usr/share")).unwrap();
    std::os::unix::fs::chown(at(lower.path(), "usr"), Some(5), Some(6)).unwrap();
    std::fs::set_permissions(
        at(lower.path(), "usr"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    rustix::fs::setxattr(
        at(lower.path(), "usr"),
        "user.origin",
        b"lower",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    common::set_mtime(&at(lower.path(), "usr"), 1_234_567_890);
    let upper = tmp();
    let options = ApplyOptions {
        parents: vec![lower.path().to_path_buf()],
        ..overlay()
    };
    let tar = layer(&[E::file("usr/bin/tool", b"t", 0o755)]);
    apply(tar.as_slice(), upper.path(), options).unwrap();
    let usr = info(&at(upper.path(), "usr"), true);
    assert_eq!((usr.mode, usr.uid, usr.gid), (0o750, 5, 6));
    assert_eq!(usr.xattrs, [("user.origin".to_owned(), b"lower".to_vec())]);
    let bin = info(&at(upper.path(), "usr/bin"), true);
    assert_eq!((bin.mode, bin.uid), (0o755, 0));
}

#[test]
#[ignore = "requires root"]
fn truncated_layers_are_refused() {
    let tar = layer(&[E::file("a", &[7u8; 3000], 0o644), E::file("b", b"b", 0o644)]);
    // Cut inside a's data, then inside b's header.
    for cut in [1500, 512 * 7 + 100] {
        let root = tmp();
        let err = apply_bytes(&tar[..cut], root.path()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataLoss, "{err}");
    }
    // Cut right before the end-of-archive blocks: a complete, valid stream.
    let root = tmp();
    let end = tar.len() - 1024;
    let stats = apply_bytes(&tar[..end], root.path()).unwrap();
    assert_eq!(stats.files, 2);
}

#[test]
#[ignore = "requires root"]
fn the_stream_is_hashed_to_its_end() {
    let mut tar = layer(&[E::file("a", b"a", 0o644)]);
    tar.extend_from_slice(&[0u8; 8192]);
    let root = tmp();
    let stats = apply_bytes(&tar, root.path()).unwrap();
    assert_eq!(stats.size, tar.len() as u64);
    assert_eq!(stats.diff_id, sha256(&tar));
}

#[test]
#[ignore = "requires root"]
fn user_xattrs_on_symlinks_are_skipped() {
    let root = tmp();
    let tar = layer(&[E::symlink("l", "x").xattr("user.a", b"b")]);
    apply_bytes(&tar, root.path()).unwrap();
    assert!(xattrs(&at(root.path(), "l")).is_empty());
    let md = std::fs::symlink_metadata(at(root.path(), "l")).unwrap();
    assert_eq!(md.mtime(), 1_600_000_000);
}
