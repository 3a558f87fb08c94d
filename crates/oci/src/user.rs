//! Resolving a user given as `uid`, `name`, `uid:gid` or `name:group`
//! against a root filesystem's `/etc/passwd` and `/etc/group`, the way
//! containerd's `oci.WithUser` and `oci.WithAdditionalGIDs` do.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The process identity a user string resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// The supplementary group ids, the primary group first (containerd's
    /// `ensureAdditionalGids`).
    pub additional_gids: Vec<u32>,
}

/// One line of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

/// One line of `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// runc's limit for ids (containerd follows it).
const MAX_ID: i64 = i32::MAX as i64;

fn parse_id(text: &str) -> Option<u32> {
    text.parse::<i64>()
        .ok()
        .filter(|v| (0..=MAX_ID).contains(v))
        .and_then(|v| u32::try_from(v).ok())
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some(PasswdEntry {
                name: fields.first()?.to_string(),
                uid: fields.get(2)?.trim().parse().ok()?,
                gid: fields.get(3)?.trim().parse().ok()?,
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some(GroupEntry {
                name: fields.first()?.to_string(),
                gid: fields.get(2)?.trim().parse().ok()?,
                members: fields
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Joins `path` to `root` resolving symlinks as if `root` were `/`, so a
/// link in the container's filesystem cannot lead outside it
/// (containerd's `fs.RootPath`).
pub fn scoped_path(root: &Path, path: &str) -> PathBuf {
    let mut resolved = PathBuf::new();
    let mut pending: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(String::from)
        .collect();
    let mut hops = 0;
    while let Some(component) = pending.pop() {
        match component.as_str() {
            "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = resolved.join(&component);
        match std::fs::read_link(root.join(&candidate)) {
            Ok(target) if hops < 255 => {
                hops += 1;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(name) => {
                            pending.push(name.to_string_lossy().into_owned())
                        }
                        Component::ParentDir => pending.push("..".to_string()),
                        _ => {}
                    }
                }
            }
            _ => resolved = candidate,
        }
    }
    root.join(resolved)
}

/// Reads `/etc/<name>` of `root`; `None` when it does not exist.
fn read_etc(root: &Path, name: &str) -> Result<Option<String>> {
    let path = scoped_path(root, &format!("/etc/{name}"));
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            context: format!("reading {}", path.display()),
            source,
        }),
    }
}

/// The user database of a root filesystem (empty when it has none).
#[derive(Debug, Clone, Default)]
pub struct UserDb {
    passwd: Option<Vec<PasswdEntry>>,
    group: Option<Vec<GroupEntry>>,
}

impl UserDb {
    /// Reads `/etc/passwd` and `/etc/group` of `root`.
    pub fn read(root: &Path) -> Result<UserDb> {
        Ok(UserDb {
            passwd: read_etc(root, "passwd")?.map(|t| parse_passwd(&t)),
            group: read_etc(root, "group")?.map(|t| parse_group(&t)),
        })
    }

    /// A database from file contents, for tests.
    pub fn from_text(passwd: Option<&str>, group: Option<&str>) -> UserDb {
        UserDb {
            passwd: passwd.map(parse_passwd),
            group: group.map(parse_group),
        }
    }

    fn user_by(&self, filter: impl Fn(&PasswdEntry) -> bool) -> Option<&PasswdEntry> {
        self.passwd.as_ref()?.iter().find(|u| filter(u))
    }

    /// `oci.WithUser`: resolves `user` (`uid`, `name`, `uid:gid`,
    /// `name:group`, mixed) to ids. Without supplementary groups.
    pub fn resolve_ids(&self, user: &str) -> Result<(u32, u32)> {
        let parts: Vec<&str> = user.split(':').collect();
        match parts.as_slice() {
            [single] => match parse_id(single) {
                // A numeric uid: its passwd entry gives the group, else 0.
                Some(uid) => Ok((uid, self.user_by(|u| u.uid == uid).map_or(0, |u| u.gid))),
                None => {
                    let entry = self.user_by(|u| u.name == *single).ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "user {single:?} not found in the container's /etc/passwd; give a numeric uid[:gid] instead"
                        ))
                    })?;
                    Ok((entry.uid, entry.gid))
                }
            },
            [u, g] => {
                let uid = match parse_id(u) {
                    Some(uid) => uid,
                    None => {
                        self.user_by(|e| e.name == *u)
                            .ok_or_else(|| {
                                Error::InvalidArgument(format!(
                                    "user {u:?} not found in the container's /etc/passwd"
                                ))
                            })?
                            .uid
                    }
                };
                let gid = match parse_id(g) {
                    Some(gid) => gid,
                    None => {
                        self.group
                            .as_ref()
                            .and_then(|groups| groups.iter().find(|e| e.name == *g))
                            .ok_or_else(|| {
                                Error::InvalidArgument(format!(
                                    "group {g:?} not found in the container's /etc/group"
                                ))
                            })?
                            .gid
                    }
                };
                Ok((uid, gid))
            }
            _ => Err(Error::InvalidArgument(format!(
                "invalid user {user:?}: expected uid, name, uid:gid or name:group"
            ))),
        }
    }

    /// `oci.WithAdditionalGIDs`: the groups that list the user (given as
    /// a uid or a name) as a member, other than the group of the same name.
    pub fn supplementary_gids(&self, user: &str) -> Vec<u32> {
        let name = match parse_id(user) {
            Some(uid) => match self.user_by(|u| u.uid == uid) {
                Some(entry) => entry.name.clone(),
                None => return Vec::new(),
            },
            None => user.to_string(),
        };
        let Some(groups) = &self.group else {
            return Vec::new();
        };
        groups
            .iter()
            .filter(|g| g.name != name && g.members.contains(&name))
            .map(|g| g.gid)
            .collect()
    }

    /// Whether the root filesystem has a user database at all.
    pub fn is_empty(&self) -> bool {
        self.passwd.is_none() && self.group.is_none()
    }
}

/// The primary gid first, then the other supplementary groups
/// (containerd's `ensureAdditionalGids`).
pub fn with_primary(gid: u32, mut additional: Vec<u32>) -> Vec<u32> {
    if !additional.contains(&gid) {
        additional.insert(0, gid);
    }
    additional
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1::/:/bin/false\n\
        www:x:33:33::/var/www:/bin/false\n\
        # comment\n\
        nobody:x:65534:65534::/:/bin/false\n";
    const GROUP: &str = "root:x:0:\n\
        www:x:33:\n\
        audio:x:29:www,daemon\n\
        video:x:44:www\n\
        nogroup:x:65534:\n";

    fn db() -> UserDb {
        UserDb::from_text(Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn resolves_like_with_user() {
        let db = db();
        assert_eq!(db.resolve_ids("33").ok(), Some((33, 33)));
        assert_eq!(db.resolve_ids("www").ok(), Some((33, 33)));
        assert_eq!(db.resolve_ids("1234").ok(), Some((1234, 0)));
        assert_eq!(db.resolve_ids("1000:1000").ok(), Some((1000, 1000)));
        assert_eq!(db.resolve_ids("www:audio").ok(), Some((33, 29)));
        assert_eq!(db.resolve_ids("5:video").ok(), Some((5, 44)));
        assert!(db.resolve_ids("ghost").is_err());
        assert!(db.resolve_ids("www:ghosts").is_err());
        assert!(db.resolve_ids("a:b:c").is_err());
        // Beyond runc's limit a number is taken as a name.
        assert!(db.resolve_ids("4294967295").is_err());
        let empty = UserDb::default();
        assert_eq!(empty.resolve_ids("7").ok(), Some((7, 0)));
        assert!(empty.resolve_ids("www").is_err());
    }

    #[test]
    fn supplementary_groups() {
        let db = db();
        assert_eq!(db.supplementary_gids("www"), vec![29, 44]);
        assert_eq!(db.supplementary_gids("33"), vec![29, 44]);
        assert_eq!(db.supplementary_gids("root"), Vec::<u32>::new());
        assert_eq!(with_primary(33, vec![29, 44]), vec![33, 29, 44]);
        assert_eq!(with_primary(29, vec![29, 44]), vec![29, 44]);
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir");
        };
        let root = dir.path();
        let etc = root.join("real-etc");
        assert!(std::fs::create_dir_all(&etc).is_ok());
        assert!(std::fs::write(etc.join("passwd"), "app:x:7:8::/:/bin/sh\n").is_ok());
        // An absolute link resolves inside the root, not on the host.
        assert!(std::os::unix::fs::symlink("/real-etc", root.join("etc")).is_ok());
        assert_eq!(scoped_path(root, "/etc/passwd"), etc.join("passwd"));
        assert!(std::os::unix::fs::symlink("../../../../", etc.join("up")).is_ok());
        assert_eq!(scoped_path(root, "/etc/up/etc/passwd"), etc.join("passwd"));
        let db = UserDb::read(root).unwrap_or_default();
        assert_eq!(db.resolve_ids("app").ok(), Some((7, 8)));
    }

    /// CVE-2023-25173 (supplementary groups): the groups the image's
    /// `/etc/group` lists the user in become its supplementary groups,
    /// primary group first, including `root` (0) when the image says so;
    /// a user in no group gets only its primary group.
    #[test]
    fn supplementary_groups_from_etc_group_cve_2023_25173() {
        let db = UserDb::from_text(
            Some("root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\nsolo:x:7:7::/:/bin/sh\n"),
            Some("root:x:0:app\napp:x:1000:\nwheel:x:10:app\nsolo:x:7:\n"),
        );
        let (uid, gid) = db.resolve_ids("app").unwrap_or_default();
        assert_eq!((uid, gid), (1000, 1000));
        assert_eq!(
            with_primary(gid, db.supplementary_gids("app")),
            vec![1000, 0, 10]
        );
        assert_eq!(
            with_primary(gid, db.supplementary_gids("1000")),
            vec![1000, 0, 10]
        );
        assert_eq!(with_primary(7, db.supplementary_gids("solo")), vec![7]);
    }

    /// CVE-2024-40635 (uid/gid overflow): ids beyond runc's 2^31-1 are not
    /// taken as numbers (so they cannot wrap to 0, root); as names they are
    /// unknown and refused.
    #[test]
    fn ids_beyond_int32_are_refused_cve_2024_40635() {
        let db = db();
        for user in [
            "2147483648",
            "4294967296",
            "2147483648:0",
            "0:2147483648",
            "-1",
        ] {
            assert!(db.resolve_ids(user).is_err(), "{user} accepted");
        }
        assert_eq!(db.resolve_ids("2147483647").ok(), Some((2147483647, 0)));
    }
}
