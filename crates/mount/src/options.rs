//! fstab-style mount options turned into mount(2) flags and data, the way
//! containerd's `parseMountOptions` does it.

use crated_core::mount::Mount;
use nix::mount::MsFlags;

/// Mount options split into what mount(2) takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedOptions {
    /// The `MS_*` flags.
    pub flags: MsFlags,
    /// Everything that is not a flag, comma-joined: the filesystem's data.
    pub data: String,
    /// Whether `loop` was asked for (the source is a file to attach to a
    /// loop device).
    pub loop_device: bool,
}

impl Default for ParsedOptions {
    fn default() -> Self {
        ParsedOptions {
            flags: MsFlags::empty(),
            data: String::new(),
            loop_device: false,
        }
    }
}

/// Propagation flags: applied by a separate mount(2) call.
pub const PROPAGATION_FLAGS: MsFlags = MsFlags::MS_SHARED
    .union(MsFlags::MS_PRIVATE)
    .union(MsFlags::MS_SLAVE)
    .union(MsFlags::MS_UNBINDABLE);

/// `(option, clears, flag)`: `clears` options remove the flag instead of
/// setting it. Options not listed are filesystem data.
const FLAG_TABLE: &[(&str, bool, MsFlags)] = &[
    ("async", true, MsFlags::MS_SYNCHRONOUS),
    ("atime", true, MsFlags::MS_NOATIME),
    ("bind", false, MsFlags::MS_BIND),
    ("defaults", false, MsFlags::empty()),
    ("dev", true, MsFlags::MS_NODEV),
    ("diratime", true, MsFlags::MS_NODIRATIME),
    ("dirsync", false, MsFlags::MS_DIRSYNC),
    ("exec", true, MsFlags::MS_NOEXEC),
    ("lazytime", false, MsFlags::MS_LAZYTIME),
    ("mand", false, MsFlags::MS_MANDLOCK),
    ("noatime", false, MsFlags::MS_NOATIME),
    ("nodev", false, MsFlags::MS_NODEV),
    ("nodiratime", false, MsFlags::MS_NODIRATIME),
    ("noexec", false, MsFlags::MS_NOEXEC),
    ("nolazytime", true, MsFlags::MS_LAZYTIME),
    ("nomand", true, MsFlags::MS_MANDLOCK),
    ("norelatime", true, MsFlags::MS_RELATIME),
    ("nostrictatime", true, MsFlags::MS_STRICTATIME),
    ("nosuid", false, MsFlags::MS_NOSUID),
    ("private", false, MsFlags::MS_PRIVATE),
    ("rbind", false, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("relatime", false, MsFlags::MS_RELATIME),
    ("remount", false, MsFlags::MS_REMOUNT),
    ("ro", false, MsFlags::MS_RDONLY),
    (
        "rprivate",
        false,
        MsFlags::MS_PRIVATE.union(MsFlags::MS_REC),
    ),
    ("rshared", false, MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("rslave", false, MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    (
        "runbindable",
        false,
        MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC),
    ),
    ("rw", true, MsFlags::MS_RDONLY),
    ("shared", false, MsFlags::MS_SHARED),
    ("slave", false, MsFlags::MS_SLAVE),
    ("strictatime", false, MsFlags::MS_STRICTATIME),
    ("suid", true, MsFlags::MS_NOSUID),
    ("sync", false, MsFlags::MS_SYNCHRONOUS),
    ("unbindable", false, MsFlags::MS_UNBINDABLE),
];

/// Splits `options` into `MS_*` flags, filesystem data and the `loop`
/// request. Later options win over earlier ones (`ro` then `rw` is
/// read-write), as in containerd.
pub fn parse_mount_options(options: &[String]) -> ParsedOptions {
    let mut parsed = ParsedOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for option in options {
        match FLAG_TABLE.iter().find(|(name, _, _)| name == option) {
            Some((_, true, flag)) => parsed.flags.remove(*flag),
            Some((_, false, flag)) => parsed.flags.insert(*flag),
            None if option == "loop" => parsed.loop_device = true,
            None => data.push(option),
        }
    }
    parsed.data = data.join(",");
    parsed
}

/// The mounts made read-only, as containerd's `readonlyMounts`: overlay
/// mounts lose their `upperdir` and `workdir` (the upper directory becomes
/// the top lower directory); other mounts get `ro` instead of `rw`.
pub fn readonly_mounts(mounts: Vec<Mount>) -> Vec<Mount> {
    mounts
        .into_iter()
        .map(|mut m| {
            m.options = if m.mount_type == "overlay" {
                readonly_overlay(&m.options)
            } else {
                let mut opts: Vec<String> = m
                    .options
                    .into_iter()
                    .filter(|o| o != "rw" && o != "ro")
                    .collect();
                opts.push("ro".to_owned());
                opts
            };
            m
        })
        .collect()
}

fn readonly_overlay(options: &[String]) -> Vec<String> {
    let upper = options
        .iter()
        .find_map(|o| o.strip_prefix("upperdir="))
        .map(str::to_owned);
    options
        .iter()
        .filter(|o| !o.starts_with("upperdir=") && !o.starts_with("workdir="))
        .map(|o| match (&upper, o.strip_prefix("lowerdir=")) {
            (Some(upper), Some(lower)) => format!("lowerdir={upper}:{lower}"),
            _ => o.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_data_are_split() {
        let p = parse_mount_options(&opts(&["ro", "nosuid", "nodev", "size=65536k", "mode=755"]));
        assert_eq!(
            p.flags,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV
        );
        assert_eq!(p.data, "size=65536k,mode=755");
        assert!(!p.loop_device);
    }

    #[test]
    fn later_options_clear_earlier_ones() {
        let p = parse_mount_options(&opts(&["ro", "rw", "noexec", "exec", "rbind"]));
        assert_eq!(p.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert_eq!(p.data, "");
    }

    #[test]
    fn defaults_is_no_flag_and_not_data() {
        let p = parse_mount_options(&opts(&["defaults"]));
        assert_eq!(p, ParsedOptions::default());
    }

    #[test]
    fn loop_and_propagation() {
        let p = parse_mount_options(&opts(&["loop", "rprivate"]));
        assert!(p.loop_device);
        assert_eq!(p.flags, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert!(p.flags.intersects(PROPAGATION_FLAGS));
    }

    #[test]
    fn overlay_options_are_data() {
        let p = parse_mount_options(&opts(&[
            "index=off",
            "workdir=/w",
            "upperdir=/u",
            "lowerdir=/a:/b",
        ]));
        assert!(p.flags.is_empty());
        assert_eq!(p.data, "index=off,workdir=/w,upperdir=/u,lowerdir=/a:/b");
    }

    #[test]
    fn readonly_overlay_moves_upper_into_lower() {
        let m = Mount {
            mount_type: "overlay".into(),
            source: "overlay".into(),
            target: String::new(),
            options: opts(&["index=off", "workdir=/w", "upperdir=/u", "lowerdir=/a:/b"]),
        };
        let ro = readonly_mounts(vec![m]);
        assert_eq!(ro[0].options, opts(&["index=off", "lowerdir=/u:/a:/b"]));
    }

    #[test]
    fn readonly_bind_gets_single_ro() {
        let m = Mount {
            mount_type: "bind".into(),
            source: "/src".into(),
            target: String::new(),
            options: opts(&["rw", "rbind", "ro"]),
        };
        let ro = readonly_mounts(vec![m]);
        assert_eq!(ro[0].options, opts(&["rbind", "ro"]));
    }
}
