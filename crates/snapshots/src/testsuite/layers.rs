//! Checks of file changes across layers (containerd's issue checks:
//! LayerFileUpdate, RemoveDirectoryInLowerLayer, Chown,
//! DirectoryPermissionOnCommit, DeletedFilesInChildSnapshot,
//! MoveFileFromLowerLayer, Rename, 128LayersMount), plus special files.

use super::fstest::{
    Applier, Op, check_directory_equal, chown as chown_op, create_dir, create_file, link,
    remove_all, rename as rename_op, symlink_to,
};
use super::helpers::{Mounted, check_snapshots, gc_labels, scratch_dir};
use super::{CheckResult, Env};

/// A file changed in an upper layer shows the new content and mode
/// (docker#21555), five times across second boundaries.
pub fn layer_file_update(env: &mut Env<'_>) -> CheckResult {
    let l1 = Applier(vec![
        create_dir("/etc", 0o700),
        create_file("/etc/hosts", "mydomain 10.0.0.1", 0o644),
        create_file("/etc/profile", "PATH=/usr/bin", 0o644),
    ]);
    let l2 = Applier(vec![
        create_file("/etc/hosts", "mydomain 10.0.0.2", 0o644),
        create_file("/etc/profile", "PATH=/usr/bin", 0o666),
        create_dir("/root", 0o700),
        create_file("/root/.bashrc", "PATH=/usr/sbin:/usr/bin", 0o644),
    ]);
    for round in 0..5 {
        if round > 0 {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            std::thread::sleep(std::time::Duration::from_nanos(
                1_000_000_000 - u64::from(now.subsec_nanos()),
            ));
        }
        check_snapshots(env.sn(), env.work(), &[l1.clone(), l2.clone()])
            .map_err(|e| e.context(format!("round {round}")))?;
    }
    Ok(())
}

/// A directory removed and recreated in an upper layer hides the lower
/// one's files (docker#25244): overlay's opaque directories.
pub fn remove_directory_in_lower_layer(env: &mut Env<'_>) -> CheckResult {
    check_snapshots(
        env.sn(),
        env.work(),
        &[
            Applier(vec![
                create_dir("/lib", 0o700),
                create_file("/lib/hidden", "", 0o644),
            ]),
            Applier(vec![
                remove_all("/lib"),
                create_dir("/lib", 0o700),
                create_file("/lib/not-hidden", "", 0o644),
            ]),
            Applier(vec![create_file("/lib/newfile", "", 0o644)]),
        ],
    )
}

/// Ownership changed in an upper layer (docker#20240, #24913, #28391).
pub fn chown(env: &mut Env<'_>) -> CheckResult {
    check_snapshots(
        env.sn(),
        env.work(),
        &[
            Applier(vec![
                create_dir("/opt", 0o700),
                create_dir("/opt/a", 0o700),
                create_dir("/opt/a/b", 0o700),
                create_file("/opt/a/b/file.txt", "hello", 0o644),
            ]),
            Applier(vec![
                chown_op("/opt", 1, 1),
                chown_op("/opt/a", 1, 1),
                chown_op("/opt/a/b", 1, 1),
                chown_op("/opt/a/b/file.txt", 1, 1),
            ]),
        ],
    )
}

/// Owners and modes of directories survive commits (docker#27298).
pub fn directory_permission_on_commit(env: &mut Env<'_>) -> CheckResult {
    let mut l1 = Vec::new();
    for d in ["/dir1", "/dir2", "/dir3", "/dir4", "/dir5"] {
        l1.push(create_dir(d, 0o700));
    }
    l1.extend([
        create_file("/dir4/f1", "...", 0o644),
        create_file("/dir5/f1", "...", 0o644),
        chown_op("/dir1", 1, 1),
        chown_op("/dir2", 1, 1),
        chown_op("/dir3", 1, 1),
        chown_op("/dir5", 1, 1),
        chown_op("/dir5/f1", 1, 1),
    ]);
    check_snapshots(
        env.sn(),
        env.work(),
        &[
            Applier(l1),
            Applier(vec![
                chown_op("/dir2", 0, 0),
                remove_all("/dir3"),
                chown_op("/dir4", 1, 1),
                chown_op("/dir4/f1", 1, 1),
            ]),
            Applier(vec![
                create_dir("/dir3", 0o700),
                chown_op("/dir3", 1, 1),
                remove_all("/dir5"),
                create_dir("/dir5", 0o700),
                chown_op("/dir5", 1, 1),
            ]),
        ],
    )
}

/// Files deleted in a layer stay deleted in its children (whiteouts).
pub fn deleted_files_in_child_snapshot(env: &mut Env<'_>) -> CheckResult {
    check_snapshots(
        env.sn(),
        env.work(),
        &[
            Applier(vec![
                create_file("/foo", "foo\n", 0o777),
                create_file("/foobar", "foobar\n", 0o777),
            ]),
            Applier(vec![remove_all("/foobar")]),
            Applier(vec![]),
        ],
    )
}

/// Files moved out of a lower layer's directory, by copy and by link.
pub fn move_file_from_lower_layer(env: &mut Env<'_>) -> CheckResult {
    check_snapshots(
        env.sn(),
        env.work(),
        &[
            Applier(vec![
                create_dir("/dir1", 0o700),
                create_file("/dir1/f1", "Hello", 0o644),
                create_dir("dir2", 0o700),
                create_file("dir2/f2", "...", 0o644),
            ]),
            Applier(vec![
                create_dir("/dir3", 0o700),
                create_file("/dir3/f1", "Hello", 0o644),
                remove_all("/dir1"),
                link("dir2/f2", "dir3/f2"),
                remove_all("dir2/f2"),
            ]),
        ],
    )
}

/// Renames of directories and files from a lower layer (docker#25409).
/// A directory rename that overlayfs refuses with `EXDEV` is done as `mv`
/// does it, by copying (containerd skips this check instead).
pub fn rename(env: &mut Env<'_>) -> CheckResult {
    check_snapshots(
        env.sn(),
        env.work(),
        &[
            Applier(vec![
                create_dir("/dir1", 0o700),
                create_dir("/somefiles", 0o700),
                create_file("/somefiles/f1", "was here first!", 0o644),
                create_file("/somefiles/f2", "nothing interesting", 0o644),
            ]),
            Applier(vec![
                rename_op("/dir1", "/dir2"),
                create_file("/somefiles/f1-overwrite", "new content 1", 0o644),
                rename_op("/somefiles/f1-overwrite", "/somefiles/f1"),
                rename_op("/somefiles/f2", "/somefiles/f3"),
            ]),
        ],
    )
}

/// Symlinks, hard links, device nodes, fifos, set-id modes and extended
/// attributes survive layering.
pub fn special_files(env: &mut Env<'_>) -> CheckResult {
    check_snapshots(
        env.sn(),
        env.work(),
        &[
            Applier(vec![
                create_dir("/bin", 0o755),
                create_file("/bin/tool", "#!/bin/sh\n", 0o4755),
                link("/bin/tool", "/bin/tool-link"),
                create_file("/bin/other", "other\n", 0o755),
                symlink_to("tool", "/bin/sym"),
                symlink_to("/nowhere", "/dangling"),
                create_dir("/dev", 0o755),
                Op::CharDevice("/dev/null".into(), 0o666, nix::sys::stat::makedev(1, 3)),
                Op::Fifo("/fifo".into(), 0o600),
                create_file("/attrs", "x", 0o644),
                Op::SetXattr("/attrs".into(), "user.crated".into(), b"value".to_vec()),
            ]),
            Applier(vec![
                Op::Chmod("/bin/other".into(), 0o2755),
                remove_all("/dev/null"),
                Op::Fifo("/dev/null".into(), 0o644),
                symlink_to("bin/tool", "/tool"),
                Op::SetXattr("/attrs".into(), "user.more".into(), b"2".to_vec()),
            ]),
        ],
    )
}

/// 128 layers stacked, each rewriting, adding and replacing files, look
/// exactly like the same changes in one directory — through a mount whose
/// overlay `lowerdir` is longer than a page.
pub fn layers_128_mount(env: &mut Env<'_>) -> CheckResult {
    let sn = env.sn();
    let mut appliers = vec![Applier(vec![
        create_file("/bottom", "way at the bottom\n", 0o777),
        create_file("/overwriteme", "FIRST!\n", 0o777),
        create_dir("/ADDHERE", 0o755),
        create_dir("/ONLYME", 0o755),
        create_file("/ONLYME/bottom", "bye!\n", 0o777),
    ])];
    for i in 1..=127 {
        appliers.push(Applier(vec![
            create_file("/overwriteme", format!("{i} WAS HERE!\n"), 0o777),
            create_file(format!("/ADDHERE/file-{i}"), "same\n", 0o755),
            remove_all("/ONLYME"),
            create_dir("/ONLYME", 0o755),
            create_file(format!("/ONLYME/file-{i}"), "only me!\n", 0o777),
        ]));
    }
    let flat = scratch_dir(env.work(), "flat")?;
    let mut parent = String::new();
    for (i, applier) in appliers.iter().enumerate() {
        let key = format!("prepare-layer-{i}");
        let mounts = sn.prepare(&key, &parent, gc_labels())?;
        let m = Mounted::mount(&mounts, &env.work().join(&key))?;
        check_directory_equal(&flat, m.path())
            .map_err(|e| e.context(format!("layer {i} before")))?;
        applier.apply(&flat)?;
        applier.apply(m.path())?;
        check_directory_equal(&flat, m.path())
            .map_err(|e| e.context(format!("layer {i} after")))?;
        m.unmount()?;
        parent = format!("committed-{i}");
        sn.commit(&parent, &key, gc_labels())?;
    }
    let mounts = sn.view("fullview", &parent, gc_labels())?;
    let m = Mounted::mount(&mounts, &env.work().join("fullview"))?;
    check_directory_equal(&flat, m.path()).map_err(|e| e.context("full view"))?;
    m.unmount()
}
