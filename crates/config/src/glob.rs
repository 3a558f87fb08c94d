//! Glob expansion for `imports`, following Go's `filepath.Glob`: `*` matches
//! any run of characters within one path component, `?` one character,
//! `[...]` a class (`[^...]` or `[!...]` negated, `a-z` ranges) and `\`
//! escapes the next character. Dot files are matched like any other.
//! Matches are sorted within each directory; nonexistent directories simply
//! match nothing.

use std::fs;
use std::path::{Component, Path, PathBuf};

/// Expands `pattern` into the existing paths it matches. A malformed pattern
/// is an error describing the problem.
pub(crate) fn expand(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    let mut candidates = vec![PathBuf::new()];
    for component in pattern.components() {
        let Component::Normal(part) = component else {
            for candidate in &mut candidates {
                candidate.push(component.as_os_str());
            }
            continue;
        };
        let part = part.to_string_lossy();
        if !has_meta(&part) {
            for candidate in &mut candidates {
                candidate.push(&*part);
            }
            continue;
        }
        let pat: Vec<char> = part.chars().collect();
        validate(&pat)?;
        let mut next = Vec::new();
        for dir in &candidates {
            let listing = if dir.as_os_str().is_empty() {
                fs::read_dir(".")
            } else {
                fs::read_dir(dir)
            };
            let Ok(listing) = listing else { continue };
            let mut names: Vec<String> = listing
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| matches(&pat, &name.chars().collect::<Vec<_>>()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|name| dir.join(name)));
        }
        candidates = next;
    }
    candidates.retain(|p| !p.as_os_str().is_empty() && fs::symlink_metadata(p).is_ok());
    Ok(candidates)
}

fn has_meta(part: &str) -> bool {
    part.contains(['*', '?', '[', '\\'])
}

/// Checks that every class is closed and non-empty and no escape dangles.
fn validate(pat: &[char]) -> Result<(), String> {
    let mut i = 0;
    while i < pat.len() {
        match pat[i] {
            '\\' if i + 1 >= pat.len() => return Err("trailing backslash".to_owned()),
            '\\' => i += 2,
            '[' => i = class(pat, i, '\0')?.1,
            _ => i += 1,
        }
    }
    Ok(())
}

/// Parses the class starting at `pat[start] == '['` and tests `c` against
/// it. Returns whether `c` is in the class and the index after its `]`.
fn class(pat: &[char], start: usize, c: char) -> Result<(bool, usize), String> {
    let mut i = start + 1;
    let negated = matches!(pat.get(i), Some('^' | '!'));
    if negated {
        i += 1;
    }
    let mut found = false;
    let mut empty = true;
    loop {
        let lo = match pat.get(i) {
            None => return Err("unterminated character class".to_owned()),
            Some(']') if !empty => break,
            Some(']') => return Err("empty character class".to_owned()),
            Some('\\') => {
                i += 1;
                *pat.get(i).ok_or("trailing backslash")?
            }
            Some(&ch) => ch,
        };
        i += 1;
        empty = false;
        let mut hi = lo;
        if pat.get(i) == Some(&'-') && pat.get(i + 1).is_some_and(|&ch| ch != ']') {
            i += 1;
            hi = match pat[i] {
                '\\' => {
                    i += 1;
                    *pat.get(i).ok_or("trailing backslash")?
                }
                ch => ch,
            };
            i += 1;
            if hi < lo {
                return Err(format!("bad range {lo}-{hi} in character class"));
            }
        }
        if lo <= c && c <= hi {
            found = true;
        }
    }
    Ok((found != negated, i + 1))
}

/// Whether `name` matches the (validated) pattern `pat`.
fn matches(pat: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pat.len() {
            let step = match pat[p] {
                '*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                _ if n >= name.len() => None,
                '?' => Some(p + 1),
                '[' => match class(pat, p, name[n]) {
                    Ok((true, next)) => Some(next),
                    _ => None,
                },
                '\\' => (pat.get(p + 1) == Some(&name[n])).then_some(p + 2),
                ch => (ch == name[n]).then_some(p + 1),
            };
            if let Some(next) = step {
                p = next;
                n += 1;
                continue;
            }
        } else if n == name.len() {
            return true;
        }
        match star {
            Some((sp, sn)) if sn < name.len() => {
                star = Some((sp, sn + 1));
                p = sp + 1;
                n = sn + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::{matches, validate};

    fn m(pat: &str, name: &str) -> bool {
        let pat: Vec<char> = pat.chars().collect();
        assert!(validate(&pat).is_ok(), "{pat:?} should be valid");
        matches(&pat, &name.chars().collect::<Vec<_>>())
    }

    #[test]
    fn patterns_match_like_go() {
        assert!(m("*.toml", "a.toml"));
        assert!(m("*.toml", ".toml"));
        assert!(!m("*.toml", "a.toml.bak"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("?.toml", "1.toml"));
        assert!(!m("?.toml", "12.toml"));
        assert!(m("[0-9][!a]*", "1b"));
        assert!(!m("[0-9][^a]*", "1a"));
        assert!(m(r"\*", "*"));
        assert!(!m(r"\*", "x"));
        assert!(m("*", ""));
    }

    #[test]
    fn malformed_patterns_are_rejected() {
        for bad in ["[abc", "[]", "a\\", "[z-a]"] {
            let pat: Vec<char> = bad.chars().collect();
            assert!(validate(&pat).is_err(), "{bad:?} should be rejected");
        }
    }
}
