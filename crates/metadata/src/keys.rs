//! Composite keys: parts joined by NUL, so a namespace's rows form one
//! contiguous, prefix-scannable range.

const SEP: char = '\0';

/// Joins key parts.
pub(crate) fn key(parts: &[&str]) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(SEP);
        }
        out.push_str(p);
    }
    out
}

/// The prefix that every key starting with `parts` shares.
pub(crate) fn prefix(parts: &[&str]) -> String {
    let mut out = key(parts);
    out.push(SEP);
    out
}

/// Splits a key into its parts.
pub(crate) fn split(k: &str) -> Vec<&str> {
    k.split(SEP).collect()
}

/// The first key after every key with `prefix`.
pub(crate) fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_string();
    end.pop();
    end.push('\u{1}');
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_range_covers_only_its_namespace() {
        let p = prefix(&["ns"]);
        let end = prefix_end(&p);
        let inside = key(&["ns", "zzz"]);
        let other = key(&["ns1", "a"]);
        assert!(inside.as_str() >= p.as_str() && inside.as_str() < end.as_str());
        assert!(!(other.as_str() >= p.as_str() && other.as_str() < end.as_str()));
        assert_eq!(split(&inside), vec!["ns", "zzz"]);
    }
}
