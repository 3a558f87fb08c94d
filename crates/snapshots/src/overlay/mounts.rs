//! The mounts an overlay snapshot is used through (containerd's
//! `overlay.mounts`).

use std::path::Path;

use crated_core::mount::Mount;
use crated_core::snapshot::Kind;

use crate::storage::Snapshot;

/// The mounts of `s`, with upper directories at `upper(id)`, work
/// directories at `work(id)` and `options` leading every overlay mount.
///
/// - no parents: a bind mount of the snapshot's own directory (`rw` for
///   active, `ro` for a view), as overlay needs at least one lower layer;
/// - a view of one parent: a read-only bind mount of the parent's directory;
/// - otherwise an overlay with the parents as `lowerdir` (nearest first)
///   and, for active snapshots, `workdir` and `upperdir`.
pub(crate) fn mounts(
    s: &Snapshot,
    upper: impl Fn(&str) -> String,
    work: impl Fn(&str) -> String,
    options: &[String],
) -> Vec<Mount> {
    let bind = |source: String, ro: bool| Mount {
        mount_type: "bind".into(),
        source,
        target: String::new(),
        options: vec![if ro { "ro" } else { "rw" }.into(), "rbind".into()],
    };
    if s.parent_ids.is_empty() {
        return vec![bind(upper(&s.id), s.kind == Kind::View)];
    }
    let mut opts = options.to_vec();
    if s.kind == Kind::Active {
        opts.push(format!("workdir={}", work(&s.id)));
        opts.push(format!("upperdir={}", upper(&s.id)));
    } else if let [parent] = s.parent_ids.as_slice() {
        return vec![bind(upper(parent), true)];
    }
    let lowers: Vec<String> = s.parent_ids.iter().map(|id| upper(id)).collect();
    opts.push(format!("lowerdir={}", lowers.join(":")));
    vec![Mount {
        mount_type: "overlay".into(),
        source: "overlay".into(),
        target: String::new(),
        options: opts,
    }]
}

/// `root/snapshots/<id>/<leaf>` as a string.
pub(crate) fn snapshot_path(root: &Path, id: &str, leaf: &str) -> String {
    root.join("snapshots")
        .join(id)
        .join(leaf)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(kind: Kind, parents: &[&str]) -> Snapshot {
        Snapshot {
            id: "9".into(),
            kind,
            parent_ids: parents.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn build(s: &Snapshot) -> Vec<Mount> {
        let root = Path::new("/r");
        mounts(
            s,
            |id| snapshot_path(root, id, "fs"),
            |id| snapshot_path(root, id, "work"),
            &["index=off".to_string()],
        )
    }

    #[test]
    fn no_parent_is_a_bind_mount() {
        let m = build(&snap(Kind::Active, &[]));
        assert_eq!(m[0].mount_type, "bind");
        assert_eq!(m[0].source, "/r/snapshots/9/fs");
        assert_eq!(m[0].options, vec!["rw", "rbind"]);
        let m = build(&snap(Kind::View, &[]));
        assert_eq!(m[0].options, vec!["ro", "rbind"]);
    }

    #[test]
    fn view_of_one_parent_binds_the_parent_read_only() {
        let m = build(&snap(Kind::View, &["3"]));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].source, "/r/snapshots/3/fs");
        assert_eq!(m[0].options, vec!["ro", "rbind"]);
    }

    #[test]
    fn active_with_parents_is_an_overlay() {
        let m = build(&snap(Kind::Active, &["3", "1"]));
        assert_eq!(m[0].mount_type, "overlay");
        assert_eq!(m[0].source, "overlay");
        assert_eq!(
            m[0].options,
            vec![
                "index=off",
                "workdir=/r/snapshots/9/work",
                "upperdir=/r/snapshots/9/fs",
                "lowerdir=/r/snapshots/3/fs:/r/snapshots/1/fs",
            ]
        );
    }

    #[test]
    fn view_of_many_parents_is_a_lower_only_overlay() {
        let m = build(&snap(Kind::View, &["3", "1"]));
        assert_eq!(
            m[0].options,
            vec!["index=off", "lowerdir=/r/snapshots/3/fs:/r/snapshots/1/fs"]
        );
    }
}
