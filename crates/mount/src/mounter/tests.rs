//! Unit tests of the mount logic over a recording double of the kernel.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::*;

/// Records calls; answers unmounts from a script (then `EINVAL`).
#[derive(Default)]
struct Recorder {
    mounts: Mutex<Vec<MountCall>>,
    unmounts: Mutex<Vec<(PathBuf, MntFlags)>>,
    unmount_answers: Mutex<VecDeque<Result<(), Errno>>>,
    fail_mount: Option<Errno>,
}

impl Syscalls for Recorder {
    fn mount(&self, call: &MountCall) -> Result<(), Errno> {
        self.mounts.lock().unwrap().push(call.clone());
        self.fail_mount.map_or(Ok(()), Err)
    }

    fn unmount(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        self.unmounts
            .lock()
            .unwrap()
            .push((target.to_path_buf(), flags));
        self.unmount_answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Err(Errno::EINVAL))
    }
}

fn mount(ty: &str, source: &str, options: &[&str]) -> Mount {
    Mount {
        mount_type: ty.into(),
        source: source.into(),
        target: String::new(),
        options: options.iter().map(|s| s.to_string()).collect(),
    }
}

fn calls(m: &Mounter<Recorder>) -> Vec<MountCall> {
    m.syscalls().mounts.lock().unwrap().clone()
}

#[test]
fn ro_bind_is_mounted_then_remounted_read_only() {
    let m = Mounter::new(Recorder::default());
    m.mount(&mount("bind", "/src", &["ro", "rbind"]), Path::new("/mnt"))
        .unwrap();
    let calls = calls(&m);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].source.as_deref(), Some("/src"));
    assert_eq!(calls[0].fstype.as_deref(), Some("bind"));
    assert_eq!(
        calls[0].flags,
        MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
    );
    assert_eq!(calls[0].data, None);
    assert_eq!(calls[0].target, PathBuf::from("/mnt"));
    assert_eq!(calls[1].source, None);
    assert!(
        calls[1]
            .flags
            .contains(MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY)
    );
}

#[test]
fn rw_bind_is_one_call() {
    let m = Mounter::new(Recorder::default());
    m.mount(&mount("bind", "/src", &["rw", "rbind"]), Path::new("/mnt"))
        .unwrap();
    assert_eq!(calls(&m).len(), 1);
}

#[test]
fn overlay_passes_options_as_data() {
    let m = Mounter::new(Recorder::default());
    let o = mount(
        "overlay",
        "overlay",
        &["index=off", "workdir=/w", "upperdir=/u", "lowerdir=/l1:/l2"],
    );
    m.mount(&o, Path::new("/mnt")).unwrap();
    let calls = calls(&m);
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].data.as_deref(),
        Some("index=off,workdir=/w,upperdir=/u,lowerdir=/l1:/l2")
    );
    assert_eq!(calls[0].chdir, None);
    assert!(calls[0].flags.is_empty());
}

#[test]
fn long_lowerdir_is_compacted_and_mounted_from_common_dir() {
    let m = Mounter::new(Recorder::default()).with_page_size(4096);
    let lowers: Vec<String> = (0..200)
        .map(|i| format!("/var/lib/crated/snapshots/{i}/fs"))
        .collect();
    let o = mount(
        "overlay",
        "overlay",
        &[&format!("lowerdir={}", lowers.join(":")), "index=off"],
    );
    m.mount(&o, Path::new("/mnt")).unwrap();
    let calls = calls(&m);
    assert_eq!(
        calls[0].chdir.as_deref(),
        Some(Path::new("/var/lib/crated/snapshots"))
    );
    let data = calls[0].data.as_deref().unwrap();
    assert!(data.starts_with("index=off,lowerdir=0/fs:1/fs:"), "{data}");
    assert!(data.len() < 4096);
}

#[test]
fn options_that_cannot_be_compacted_are_refused() {
    let m = Mounter::new(Recorder::default()).with_page_size(4096);
    let lowers: Vec<String> = (0..300).map(|i| format!("/l{i:04}/a/b/c/d")).collect();
    let o = mount(
        "overlay",
        "overlay",
        &[&format!("lowerdir={}", lowers.join(":"))],
    );
    let err = m.mount(&o, Path::new("/mnt")).unwrap_err();
    assert!(matches!(err, MountError::OptionsTooLong { .. }), "{err}");
    assert!(calls(&m).is_empty());
}

#[test]
fn propagation_is_a_separate_call() {
    let m = Mounter::new(Recorder::default());
    m.mount(
        &mount("tmpfs", "tmpfs", &["nosuid", "rprivate", "size=1m"]),
        Path::new("/mnt"),
    )
    .unwrap();
    let calls = calls(&m);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].flags, MsFlags::MS_NOSUID | MsFlags::MS_REC);
    assert_eq!(calls[0].data.as_deref(), Some("size=1m"));
    assert!(
        calls[1]
            .flags
            .contains(MsFlags::MS_PRIVATE | MsFlags::MS_REC)
    );
    assert_eq!(calls[1].fstype, None);
}

#[test]
fn remount_without_data_skips_first_call() {
    let m = Mounter::new(Recorder::default());
    m.mount(&mount("", "", &["remount", "shared"]), Path::new("/mnt"))
        .unwrap();
    let calls = calls(&m);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].flags, MsFlags::MS_SHARED);
}

#[test]
fn relative_targets_are_joined_and_escapes_refused() {
    let m = Mounter::new(Recorder::default());
    let mut sub = mount("bind", "/src", &["rbind"]);
    sub.target = "/proc/x".into();
    m.mount(&sub, Path::new("/root")).unwrap();
    assert_eq!(calls(&m)[0].target, PathBuf::from("/root/proc/x"));
    sub.target = "../etc".into();
    let err = m.mount(&sub, Path::new("/root")).unwrap_err();
    assert!(matches!(err, MountError::InvalidTarget { .. }));
}

#[test]
fn loop_and_fuse_are_refused_clearly() {
    let m = Mounter::new(Recorder::default());
    let err = m
        .mount(&mount("ext4", "/img", &["loop"]), Path::new("/mnt"))
        .unwrap_err();
    assert!(err.to_string().contains("loop"), "{err}");
    let err = m
        .mount(&mount("fuse.sshfs", "x", &[]), Path::new("/mnt"))
        .unwrap_err();
    assert!(err.to_string().contains("FUSE"), "{err}");
}

#[test]
fn mount_failure_names_target_and_errno() {
    let rec = Recorder {
        fail_mount: Some(Errno::ENODEV),
        ..Recorder::default()
    };
    let err = Mounter::new(rec)
        .mount(&mount("nosuchfs", "none", &[]), Path::new("/mnt/t"))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/mnt/t") && text.contains("nosuchfs"),
        "{text}"
    );
}

#[test]
fn unmount_all_unmounts_until_einval() {
    let rec = Recorder::default();
    rec.unmount_answers
        .lock()
        .unwrap()
        .extend([Ok(()), Ok(()), Err(Errno::EINVAL)]);
    let m = Mounter::new(rec);
    m.unmount_all(Path::new("/")).unwrap();
    assert_eq!(m.syscalls().unmounts.lock().unwrap().len(), 3);
}

#[test]
fn unmount_all_of_missing_target_is_noop() {
    let m = Mounter::new(Recorder::default());
    m.unmount_all(Path::new("/does/not/exist/at/all")).unwrap();
    assert!(m.syscalls().unmounts.lock().unwrap().is_empty());
}

#[test]
fn busy_unmount_falls_back_to_detach() {
    let rec = Recorder::default();
    rec.unmount_answers
        .lock()
        .unwrap()
        .extend((0..BUSY_RETRIES).map(|_| Err(Errno::EBUSY)).chain([Ok(())]));
    let m = Mounter::new(rec).with_busy_delay(Duration::ZERO);
    m.unmount(Path::new("/mnt")).unwrap();
    let unmounts = m.syscalls().unmounts.lock().unwrap();
    assert_eq!(unmounts.len(), BUSY_RETRIES + 1);
    assert_eq!(unmounts.last().unwrap().1, MntFlags::MNT_DETACH);
}

#[test]
fn unmount_of_non_mount_point_is_ok_other_errors_are_not() {
    let m = Mounter::new(Recorder::default());
    m.unmount(Path::new("/mnt")).unwrap();
    let rec = Recorder::default();
    rec.unmount_answers
        .lock()
        .unwrap()
        .push_back(Err(Errno::EPERM));
    let err = Mounter::new(rec).unmount(Path::new("/mnt")).unwrap_err();
    assert!(matches!(
        err,
        MountError::Unmount {
            errno: Errno::EPERM,
            ..
        }
    ));
}
