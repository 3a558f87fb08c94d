//! Layer chain ids: the snapshot name of a stack of layers.

/// The chain ids of `diff_ids` (base first): the first is the first diff
/// id; each next is `sha256(previous + " " + diff_id)`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => crated_core::digest::sha256(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_of_one_is_the_diff_id_and_grows_by_hash() {
        let ids = chain_ids(&["sha256:a".to_string(), "sha256:b".to_string()]);
        assert_eq!(ids[0], "sha256:a");
        let want = crated_core::digest::sha256(b"sha256:a sha256:b");
        assert_eq!(ids[1], want);
    }
}
