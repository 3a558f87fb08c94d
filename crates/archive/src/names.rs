//! Cleaning of tar entry names and link targets into root-relative
//! components, refusing names that climb out of the root.

use crated_core::{Error, Result};

use crate::error::show;

/// Splits `name` into its components relative to the root: empty and `.`
/// components are dropped and `..` removes the previous component, like
/// Go's `filepath.Clean`. A leading `/` is dropped (containerd applies an
/// absolute name relative to the root) unless `strict`, which refuses it.
/// A `..` that would climb above the root is always refused. `what` names
/// the tar entry in errors. An empty result means the root itself.
pub(crate) fn clean<'a>(name: &'a [u8], strict: bool, what: &[u8]) -> Result<Vec<&'a [u8]>> {
    if strict && name.first() == Some(&b'/') {
        return Err(Error::invalid_argument(format!(
            "tar entry {:?}: absolute path {:?} refused",
            show(what),
            show(name)
        )));
    }
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in name.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(Error::invalid_argument(format!(
                        "tar entry {:?}: path {:?} escapes the root",
                        show(what),
                        show(name)
                    )));
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Joins components with `/`.
pub(crate) fn join(comps: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(comps.iter().map(|c| c.len() + 1).sum());
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(c);
    }
    out
}

/// `parent/name`, or `name` when `parent` is empty (the root).
pub(crate) fn child(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parent.len() + 1 + name.len());
    if !parent.is_empty() {
        out.extend_from_slice(parent);
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_core::ErrorKind;

    fn c(name: &str) -> Result<Vec<String>> {
        clean(name.as_bytes(), false, name.as_bytes()).map(|v| v.iter().map(|c| show(c)).collect())
    }

    #[test]
    fn cleans_like_go() {
        assert_eq!(c("a/b/c").unwrap(), ["a", "b", "c"]);
        assert_eq!(c("./a//b/").unwrap(), ["a", "b"]);
        assert_eq!(c("/etc/passwd").unwrap(), ["etc", "passwd"]);
        assert_eq!(c("a/../b").unwrap(), ["b"]);
        assert!(c("./").unwrap().is_empty());
        assert!(c("/").unwrap().is_empty());
    }

    #[test]
    fn refuses_escapes() {
        for bad in ["..", "../x", "a/../../x", "/../etc/x", "../../etc/x"] {
            let err = c(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
            assert!(err.message().contains(bad), "{err}");
        }
        let err = clean(b"/etc/x", true, b"/etc/x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn joins() {
        assert_eq!(join(&[b"a", b"b"]), b"a/b");
        assert_eq!(join(&[]), b"");
        assert_eq!(child(b"", b"x"), b"x");
        assert_eq!(child(b"a", b"x"), b"a/x");
    }
}
