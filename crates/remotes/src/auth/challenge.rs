//! `WWW-Authenticate` challenges (RFC 7235), parsed as containerd's
//! `remotes/docker/auth` parses them, plus several challenges in one header.

use std::collections::BTreeMap;

/// An authentication scheme a registry may challenge with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuthScheme {
    /// `Basic`: username and password on every request.
    Basic,
    /// `Digest`: recognised, not supported.
    Digest,
    /// `Bearer`: a token from the `realm` endpoint, per scope.
    Bearer,
}

/// One challenge: its scheme and lower-cased parameter names with values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme.
    pub scheme: AuthScheme,
    /// Parameters such as `realm`, `service`, `scope`, `error`.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// The value of parameter `name` (lower case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses every `WWW-Authenticate` value into challenges of known schemes,
/// strongest first (Bearer, Digest, Basic), keeping header order otherwise.
pub fn parse_www_authenticate<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        parse_value(value, &mut out);
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.scheme));
    out
}

fn scheme_of(token: &str) -> Option<AuthScheme> {
    match token.to_ascii_lowercase().as_str() {
        "basic" => Some(AuthScheme::Basic),
        "digest" => Some(AuthScheme::Digest),
        "bearer" => Some(AuthScheme::Bearer),
        _ => None,
    }
}

/// Parses one header value, which may hold several comma-separated
/// challenges, pushing those of known schemes.
fn parse_value(value: &str, out: &mut Vec<Challenge>) {
    let mut rest = value;
    // The challenge being filled; `None` inside an unknown scheme.
    let mut current: Option<Challenge> = None;
    loop {
        rest = skip_space(rest);
        let (token, after) = take_token(rest);
        if token.is_empty() {
            break;
        }
        let after_space = skip_space(after);
        if let Some(value_part) = after_space.strip_prefix('=') {
            let (param_value, tail) = take_token_or_quoted(skip_space(value_part));
            if let Some(c) = current.as_mut() {
                c.params.insert(token.to_ascii_lowercase(), param_value);
            }
            rest = skip_space(tail);
        } else {
            // A new challenge starts with its scheme.
            out.extend(current.take());
            current = scheme_of(token).map(|scheme| Challenge {
                scheme,
                params: BTreeMap::new(),
            });
            rest = after;
        }
        rest = skip_space(rest);
        if let Some(tail) = rest.strip_prefix(',') {
            rest = tail;
        } else if rest.is_empty() {
            break;
        }
    }
    out.extend(current);
}

fn is_token_byte(b: u8) -> bool {
    b > 31 && b < 127 && !b" \t\"(),/:;<=>?@[]\\{}".contains(&b)
}

fn skip_space(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\r', '\n'])
}

fn take_token(s: &str) -> (&str, &str) {
    let end = s.bytes().position(|b| !is_token_byte(b)).unwrap_or(s.len());
    s.split_at(end)
}

fn take_token_or_quoted(s: &str) -> (String, &str) {
    let Some(body) = s.strip_prefix('"') else {
        let (token, rest) = take_token(s);
        return (token.to_string(), rest);
    };
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => {
                value.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => return (value, &body[i + 1..]),
            _ => value.push(c),
        }
    }
    // Unterminated quote: take what there is.
    (value, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn docker_hub_bearer() {
        let cs = parse_www_authenticate([
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        ]);
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].scheme, AuthScheme::Bearer);
        assert_eq!(
            params(&cs[0]),
            vec![
                ("realm", "https://auth.docker.io/token"),
                ("scope", "repository:library/busybox:pull"),
                ("service", "registry.docker.io"),
            ]
        );
    }

    #[test]
    fn basic_with_spaces_and_case() {
        let cs = parse_www_authenticate([r#"BASIC  Realm = "Registry Realm" , charset=UTF-8"#]);
        assert_eq!(cs[0].scheme, AuthScheme::Basic);
        assert_eq!(cs[0].param("realm"), Some("Registry Realm"));
        assert_eq!(cs[0].param("charset"), Some("UTF-8"));
    }

    #[test]
    fn several_challenges_sorted_strongest_first() {
        let cs = parse_www_authenticate([
            r#"Basic realm="b", Bearer realm="https://t/token",error="insufficient_scope""#,
            "Negotiate abc",
            r#"Digest realm="d", nonce="n""#,
        ]);
        let schemes: Vec<_> = cs.iter().map(|c| c.scheme).collect();
        assert_eq!(
            schemes,
            vec![AuthScheme::Bearer, AuthScheme::Digest, AuthScheme::Basic]
        );
        assert_eq!(cs[0].param("error"), Some("insufficient_scope"));
        assert_eq!(cs[2].param("realm"), Some("b"));
    }

    #[test]
    fn quoted_escapes_and_garbage() {
        let cs = parse_www_authenticate([r#"Bearer realm="a\"b\\c""#]);
        assert_eq!(cs[0].param("realm"), Some(r#"a"b\c"#));
        assert!(parse_www_authenticate([""]).is_empty());
        assert!(parse_www_authenticate(["Unknown realm=x"]).is_empty());
        let cs = parse_www_authenticate([r#"Bearer realm="unterminated"#]);
        assert_eq!(cs[0].param("realm"), Some("unterminated"));
        let cs = parse_www_authenticate(["Bearer"]);
        assert_eq!(cs.len(), 1);
        assert!(cs[0].params.is_empty());
    }
}
