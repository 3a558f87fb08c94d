//! Ids found by a unique prefix, as `crictl` users type them (containerd's
//! truncindex).

use std::collections::BTreeSet;
use std::sync::RwLock;

use crated_core::Error;

/// A set of ids with prefix lookup.
#[derive(Debug, Default)]
pub struct IdIndex {
    ids: RwLock<BTreeSet<String>>,
}

impl IdIndex {
    /// Adds `id`.
    pub fn add(&self, id: &str) {
        if let Ok(mut ids) = self.ids.write() {
            ids.insert(id.to_string());
        }
    }

    /// Removes `id`.
    pub fn remove(&self, id: &str) {
        if let Ok(mut ids) = self.ids.write() {
            ids.remove(id);
        }
    }

    /// The one id that starts with `prefix`: `NotFound` when none does,
    /// `InvalidArgument` when several do or the prefix is empty.
    pub fn get(&self, prefix: &str) -> crated_core::Result<String> {
        if prefix.is_empty() {
            return Err(Error::invalid_argument("an id prefix cannot be empty"));
        }
        let ids = self
            .ids
            .read()
            .map_err(|_| Error::internal("CRI id index lock poisoned"))?;
        let mut matches = ids
            .range(prefix.to_string()..)
            .take_while(|id| id.starts_with(prefix));
        let first = matches
            .next()
            .ok_or_else(|| Error::not_found(format!("no id starts with {prefix:?}")))?;
        if let Some(second) = matches.next() {
            return Err(Error::invalid_argument(format!(
                "id prefix {prefix:?} is ambiguous: it matches {first:?}, {second:?} and maybe more; give more of the id"
            )));
        }
        Ok(first.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_prefixes_resolve() {
        let index = IdIndex::default();
        index.add("abc123");
        index.add("abd456");
        index.add("ff00");
        assert_eq!(index.get("abc").unwrap(), "abc123");
        assert_eq!(index.get("abc123").unwrap(), "abc123");
        assert_eq!(index.get("f").unwrap(), "ff00");
        let err = index.get("ab").unwrap_err();
        assert_eq!(err.kind(), crated_core::ErrorKind::InvalidArgument);
        assert_eq!(
            index.get("x").unwrap_err().kind(),
            crated_core::ErrorKind::NotFound
        );
        assert!(index.get("").is_err());
        index.remove("abd456");
        assert_eq!(index.get("ab").unwrap(), "abc123");
    }
}
