//! Shortening an overlay `lowerdir=` option that would not fit in the one
//! page mount(2) accepts: containerd's `compactLowerdirOption`. The lower
//! directories are made relative to their common parent, and the mount is
//! then performed with that parent as the working directory.

use std::path::PathBuf;

const LOWERDIR: &str = "lowerdir=";

/// The total length of `options`, as containerd's `optionsSize`.
pub fn options_size(options: &[String]) -> usize {
    options.iter().map(String::len).sum()
}

/// Rewrites the `lowerdir=` option of `options` relative to the parent of
/// the lower directories' longest common prefix. Returns that directory
/// (to chdir into for the mount) and the new options, or `None` when there
/// is nothing to compact (no `lowerdir=`, a single lower directory, or no
/// common parent below `/`). The rewritten `lowerdir=` moves to the end, as
/// in containerd.
pub fn compact_lowerdir_option(options: &[String]) -> Option<(PathBuf, Vec<String>)> {
    let idx = options.iter().position(|o| o.starts_with(LOWERDIR))?;
    let dirs: Vec<&str> = options[idx][LOWERDIR.len()..].split(':').collect();
    if dirs.len() < 2 {
        return None;
    }
    let common = longest_common_prefix(&dirs);
    // Snapshot ids are numbers: `snapshots/12` and `snapshots/13` share
    // `snapshots/1`, so step back to the parent directory of the prefix.
    let common = match common.rfind('/') {
        Some(0) | None => return None,
        Some(i) => &common[..i],
    };
    let prefix = format!("{common}/");
    let mut relative = Vec::with_capacity(dirs.len());
    for dir in &dirs {
        relative.push(dir.strip_prefix(prefix.as_str())?);
    }
    let mut out: Vec<String> = options
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != idx)
        .map(|(_, o)| o.clone())
        .collect();
    out.push(format!("{LOWERDIR}{}", relative.join(":")));
    Some((PathBuf::from(common), out))
}

/// The longest common prefix (in bytes, cut at a char boundary) of `strs`.
fn longest_common_prefix<'a>(strs: &[&'a str]) -> &'a str {
    let Some((first, rest)) = strs.split_first() else {
        return "";
    };
    let mut len = first.len();
    for s in rest {
        len = first
            .bytes()
            .zip(s.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    while !first.is_char_boundary(len) {
        len -= 1;
    }
    &first[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn common_prefix() {
        assert_eq!(
            longest_common_prefix(&["/a/b/12/fs", "/a/b/13/fs"]),
            "/a/b/1"
        );
        assert_eq!(longest_common_prefix(&["/x", "/y"]), "/");
        assert_eq!(longest_common_prefix(&["é1", "é2"]), "é");
        assert_eq!(longest_common_prefix(&[]), "");
    }

    #[test]
    fn compacts_snapshot_dirs_relative_to_parent() {
        let (dir, out) = compact_lowerdir_option(&opts(&[
            "index=off",
            "lowerdir=/var/lib/s/snapshots/12/fs:/var/lib/s/snapshots/13/fs:/var/lib/s/snapshots/1/fs",
            "workdir=/w",
        ]))
        .unwrap();
        assert_eq!(dir, PathBuf::from("/var/lib/s/snapshots"));
        assert_eq!(
            out,
            opts(&["index=off", "workdir=/w", "lowerdir=12/fs:13/fs:1/fs"])
        );
    }

    #[test]
    fn nothing_to_compact() {
        assert!(compact_lowerdir_option(&opts(&["lowerdir=/a/b/fs"])).is_none());
        assert!(compact_lowerdir_option(&opts(&["index=off"])).is_none());
        assert!(compact_lowerdir_option(&opts(&["lowerdir=/a:/b"])).is_none());
    }

    #[test]
    fn size_counts_all_options() {
        assert_eq!(options_size(&opts(&["ab", "cde"])), 5);
    }
}
