//! Malicious layers: nothing is ever created, changed or removed outside
//! the root. Each test keeps a sentinel directory beside the root and
//! checks it is untouched. Names that climb out with `..` are refused;
//! absolute names and symlinks are resolved inside the root like containerd
//! does, or refused with `strict_paths`.

// Test code: helpers fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use common::{E, layer, tmp};
use crated_archive::{ApplyOptions, Compression, Compressor, Whiteouts, apply, decompress};
use crated_core::ErrorKind;

struct Jail {
    _base: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

impl Jail {
    fn new() -> Jail {
        let base = tmp();
        let root = base.path().join("root");
        let outside = base.path().join("outside");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("victim"), b"original").unwrap();
        Jail {
            _base: base,
            root,
            outside,
        }
    }

    /// The sentinel's absolute path without its leading `/`.
    fn outside_rel(&self) -> String {
        self.outside
            .to_str()
            .unwrap()
            .trim_start_matches('/')
            .to_owned()
    }

    fn apply(
        &self,
        entries: &[E],
        strict: bool,
    ) -> crated_core::Result<crated_archive::ApplyStats> {
        self.apply_with(entries, strict, Whiteouts::Oci)
    }

    fn apply_with(
        &self,
        entries: &[E],
        strict: bool,
        whiteouts: Whiteouts,
    ) -> crated_core::Result<crated_archive::ApplyStats> {
        let tar = layer(entries);
        let options = ApplyOptions {
            strict_paths: strict,
            whiteouts,
            ..ApplyOptions::default()
        };
        let result = apply(tar.as_slice(), &self.root, options);
        self.assert_outside_untouched();
        result
    }

    fn assert_outside_untouched(&self) {
        let names: Vec<_> = std::fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["victim"], "sentinel directory changed");
        let victim = self.outside.join("victim");
        assert_eq!(std::fs::read(&victim).unwrap(), b"original");
        let md = std::fs::symlink_metadata(&victim).unwrap();
        assert_eq!((md.nlink(), md.mode() & 0o7777, md.uid()), (1, 0o644, 0));
        assert!(rustix::fs::llistxattr(&victim, &mut [0u8; 64][..]).unwrap() == 0);
    }

    fn in_root(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

fn refused(result: crated_core::Result<crated_archive::ApplyStats>, entry: &str) {
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(
        err.message().contains(entry),
        "error does not name {entry:?}: {err}"
    );
}

#[test]
#[ignore = "requires root"]
fn dotdot_names_are_refused() {
    let j = Jail::new();
    for name in [
        "../outside/x",
        "a/../../outside/x",
        "../../etc/x",
        "/../outside/x",
        "../outside/victim",
    ] {
        for strict in [false, true] {
            refused(j.apply(&[E::file(name, b"pwned", 0o644)], strict), name);
        }
    }
    refused(
        j.apply(&[E::dir("../outside/d/", 0o755)], false),
        "../outside/d/",
    );
    refused(
        j.apply(&[E::symlink("../outside/l", "/")], false),
        "../outside/l",
    );
    refused(
        j.apply(&[E::whiteout("../outside/.wh.victim")], false),
        "../outside/.wh.victim",
    );
    assert_eq!(std::fs::read_dir(&j.root).unwrap().count(), 0);
}

#[test]
#[ignore = "requires root"]
fn absolute_names_stay_inside_the_root() {
    let j = Jail::new();
    let name = format!("{}/victim", j.outside.display());
    j.apply(&[E::file(&name, b"inside", 0o644)], false).unwrap();
    let landed = j.in_root(&format!("{}/victim", j.outside_rel()));
    assert_eq!(std::fs::read(landed).unwrap(), b"inside");
    refused(j.apply(&[E::file(&name, b"pwned", 0o644)], true), &name);
}

#[test]
#[ignore = "requires root"]
fn symlink_to_host_root_is_followed_inside_the_root() {
    let j = Jail::new();
    let entry = format!("link/{}/x", j.outside_rel());
    let entries = [E::symlink("link", "/"), E::file(&entry, b"inside", 0o644)];
    j.apply(&entries, false).unwrap();
    let landed = j.in_root(&format!("{}/x", j.outside_rel()));
    assert_eq!(std::fs::read(landed).unwrap(), b"inside");

    let j = Jail::new();
    refused(j.apply(&entries, true), &entry);
}

#[test]
#[ignore = "requires root"]
fn symlink_to_outside_directory_cannot_be_written_through() {
    let j = Jail::new();
    let outside = j.outside.to_str().unwrap().to_owned();
    let entries = [
        E::symlink("link", &outside),
        E::file("link/victim", b"pwned", 0o777),
        E::dir("link/newdir/", 0o755),
        E::fifo("link/fifo"),
        E::symlink("link/sl", "/etc/shadow"),
    ];
    j.apply(&entries, false).unwrap();
    let inside = j.in_root(&j.outside_rel());
    assert_eq!(std::fs::read(inside.join("victim")).unwrap(), b"pwned");
    assert!(inside.join("newdir").is_dir());

    let j = Jail::new();
    refused(j.apply(&entries, true), "link/victim");
}

#[test]
#[ignore = "requires root"]
fn relative_symlink_chains_cannot_climb_out() {
    let j = Jail::new();
    let entry = format!("b/{}/victim", j.outside_rel());
    let entries = [
        E::dir("d/", 0o755),
        E::symlink("d/up", "../../../../../../../../../.."),
        E::symlink("a", "d/up"),
        E::symlink("b", "a/../a"),
        E::file(&entry, b"pwned", 0o644),
    ];
    j.apply(&entries, false).unwrap();
    let landed = j.in_root(&format!("{}/victim", j.outside_rel()));
    assert_eq!(std::fs::read(landed).unwrap(), b"pwned");

    let j = Jail::new();
    refused(j.apply(&entries, true), &entry);
}

#[test]
#[ignore = "requires root"]
fn symlink_loops_are_refused() {
    let j = Jail::new();
    let entries = [
        E::symlink("a", "b"),
        E::symlink("b", "a"),
        E::file("a/x", b"x", 0o644),
    ];
    refused(j.apply(&entries, false), "a/x");
}

#[test]
#[ignore = "requires root"]
fn final_symlinks_are_replaced_not_followed() {
    let j = Jail::new();
    let victim = format!("{}/victim", j.outside.display());
    let entries = [E::symlink("f", &victim), E::file("f", b"pwned", 0o777)];
    j.apply(&entries, false).unwrap();
    assert_eq!(std::fs::read(j.in_root("f")).unwrap(), b"pwned");
    let entries = [
        E::symlink("g", &victim),
        E::char("g", 1, 3),
        E::symlink("h", j.outside.to_str().unwrap()),
        E::dir("h/", 0o700),
    ];
    j.apply(&entries, false).unwrap();
    assert!(j.in_root("h").symlink_metadata().unwrap().is_dir());
}

#[test]
#[ignore = "requires root"]
fn hardlinks_to_host_files_are_refused() {
    let j = Jail::new();
    let err = j
        .apply(&[E::hardlink("pw", "/etc/passwd")], false)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.message().contains("pw"), "{err}");
    assert!(!j.in_root("pw").exists());
    refused(j.apply(&[E::hardlink("pw", "/etc/passwd")], true), "pw");
    refused(
        j.apply(&[E::hardlink("v", "../outside/victim")], false),
        "\"v\"",
    );

    let victim = format!("{}/victim", j.outside.display());
    let err = j.apply(&[E::hardlink("v2", &victim)], false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    let through = [
        E::symlink("ln", j.outside.to_str().unwrap()),
        E::hardlink("v3", "ln/victim"),
    ];
    let err = j.apply(&through, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(!j.in_root("v3").exists());

    // The root's own /etc/passwd is the one an absolute target names.
    let own = [
        E::file("etc/passwd", b"mine", 0o644),
        E::hardlink("pw", "/etc/passwd"),
    ];
    j.apply(&own, false).unwrap();
    let a = std::fs::metadata(j.in_root("pw")).unwrap();
    let b = std::fs::metadata(j.in_root("etc/passwd")).unwrap();
    assert_eq!(a.ino(), b.ino());
}

#[test]
#[ignore = "requires root"]
fn whiteouts_cannot_reach_outside() {
    let j = Jail::new();
    let outside = j.outside.to_str().unwrap().to_owned();
    for mode in [Whiteouts::Oci, Whiteouts::Overlay] {
        let entries = [
            E::symlink("link", &outside),
            E::whiteout("link/.wh.victim"),
            E::whiteout("link/.wh..wh..opq"),
        ];
        j.apply_with(&entries, false, mode).unwrap();
    }
    for bad in [".wh..", ".wh...", "d/.wh."] {
        refused(j.apply(&[E::whiteout(bad)], false), bad);
    }
    let abs = format!("{outside}/.wh.victim");
    j.apply(&[E::whiteout(&abs)], false).unwrap();
}

#[test]
#[ignore = "requires root"]
fn decompression_bombs_are_bounded() {
    // 512 MiB of zeros in 0.5 MiB of gzip: a member holding the tar header
    // and 1 MiB of zeros, then 511 members of 1 MiB of zeros each.
    let zeros = vec![0u8; 1 << 20];
    let member = |prefix: &[u8]| {
        let mut gz = Compressor::with_level(Vec::new(), Compression::Gzip, Some(9)).unwrap();
        gz.write_all(prefix).unwrap();
        gz.write_all(&zeros).unwrap();
        gz.finish().unwrap()
    };
    let mut h = tar::Header::new_ustar();
    h.set_path("bomb").unwrap();
    h.set_size(512 << 20);
    h.set_mode(0o644);
    h.set_cksum();
    let mut blob = member(h.as_bytes());
    let rest = member(&[]);
    for _ in 0..511 {
        blob.extend_from_slice(&rest);
    }
    assert!(blob.len() < 1 << 20, "{}", blob.len());

    let j = Jail::new();
    let (_, reader) = decompress(blob.as_slice()).unwrap();
    let options = ApplyOptions {
        max_size: Some(4 << 20),
        ..ApplyOptions::default()
    };
    let started = std::time::Instant::now();
    let err = apply(reader, &j.root, options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceExhausted, "{err}");
    assert!(err.message().contains("4194304"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let written = std::fs::metadata(j.root.join("bomb"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(written <= 4 << 20);
    j.assert_outside_untouched();
}

#[test]
#[ignore = "requires root"]
fn root_entries_are_ignored() {
    let j = Jail::new();
    let before = std::fs::metadata(&j.root).unwrap();
    j.apply(
        &[E::dir("./", 0o777).owner(5, 5), E::dir("/", 0o777)],
        false,
    )
    .unwrap();
    let after = std::fs::metadata(&j.root).unwrap();
    assert_eq!((before.mode(), before.uid()), (after.mode(), after.uid()));
}

/// CVE-2021-32760 (archive apply changing modes outside the root): a layer
/// that plants a symlink to a host file, then a file and a directory of
/// that name with other modes, and a hardlink to it, changes nothing
/// outside the root (the sentinel's mode, owner and content are checked).
#[test]
#[ignore = "requires root"]
fn chmod_through_symlinks_cve_2021_32760() {
    let j = Jail::new();
    let victim = format!("{}/victim", j.outside.display());
    let entries = [
        E::symlink("link", &victim),
        E::file("link", b"", 0o4777),
        E::symlink("dirlink", j.outside.to_str().unwrap()),
        E::dir("dirlink/", 0o777),
    ];
    j.apply(&entries, false).unwrap();
    let hardlink = [E::symlink("l2", &victim), E::hardlink("h", "l2/..")];
    let _ = j.apply(&hardlink, false);
}
