//! Unquoting of the literals the scanner accepts: `"…"`, and the alternate
//! regular-expression forms `/…/` and `|…|`, all with Go string escapes.
//!
//! The result is bytes, not a `String`: like Go, `\xNN` and octal escapes
//! insert raw bytes, which need not form valid UTF-8.

/// The literal is not a well-formed quoted string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct QuoteSyntax;

impl std::fmt::Display for QuoteSyntax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("quote syntax error")
    }
}

/// Removes the quotes around `s` and resolves its escapes.
pub(super) fn unquote(s: &str) -> Result<Vec<u8>, QuoteSyntax> {
    let bytes = s.as_bytes();
    let (&quote, rest) = bytes.split_first().ok_or(QuoteSyntax)?;
    let (&last, inner) = rest.split_last().ok_or(QuoteSyntax)?;
    if quote != last || !matches!(quote, b'"' | b'/' | b'|') || inner.contains(&b'\n') {
        return Err(QuoteSyntax);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while let Some((&c, tail)) = rest.split_first() {
        if c == quote {
            return Err(QuoteSyntax);
        }
        if c != b'\\' {
            out.push(c);
            rest = tail;
            continue;
        }
        let (&kind, tail) = tail.split_first().ok_or(QuoteSyntax)?;
        rest = unescape(kind, tail, quote, &mut out)?;
    }
    Ok(out)
}

/// Decodes the escape `\kind…`, appending its bytes to `out`; returns the
/// input after it.
fn unescape<'a>(
    kind: u8,
    rest: &'a [u8],
    quote: u8,
    out: &mut Vec<u8>,
) -> Result<&'a [u8], QuoteSyntax> {
    let simple = match kind {
        b'a' => Some(0x07),
        b'b' => Some(0x08),
        b'f' => Some(0x0c),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(0x0b),
        b'\\' => Some(b'\\'),
        b'\'' | b'"' | b'|' | b'/' if kind == quote => Some(kind),
        _ => None,
    };
    if let Some(b) = simple {
        out.push(b);
        return Ok(rest);
    }
    match kind {
        b'x' | b'u' | b'U' => {
            let n = match kind {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..n).ok_or(QuoteSyntax)?;
            let mut v: u32 = 0;
            for &d in digits {
                let x = char::from(d).to_digit(16).ok_or(QuoteSyntax)?;
                v = v << 4 | x;
            }
            if kind == b'x' {
                out.push(u8::try_from(v).map_err(|_| QuoteSyntax)?);
            } else {
                if v > 0x10ffff {
                    return Err(QuoteSyntax);
                }
                // Surrogates encode as U+FFFD, as Go's utf8.EncodeRune does.
                let c = char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER);
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
            Ok(rest.get(n..).unwrap_or_default())
        }
        b'0'..=b'7' => {
            let digits = rest.get(..2).ok_or(QuoteSyntax)?;
            let mut v = u32::from(kind - b'0');
            for &d in digits {
                if !(b'0'..=b'7').contains(&d) {
                    return Err(QuoteSyntax);
                }
                v = v << 3 | u32::from(d - b'0');
            }
            out.push(u8::try_from(v).map_err(|_| QuoteSyntax)?);
            Ok(rest.get(2..).unwrap_or_default())
        }
        _ => Err(QuoteSyntax),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uq(s: &str) -> Vec<u8> {
        match unquote(s) {
            Ok(v) => v,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    #[test]
    fn plain_and_alternate_quotes() {
        assert_eq!(uq(r#""too complex, yo""#), b"too complex, yo");
        assert_eq!(uq("/[abc]+/"), b"[abc]+");
        assert_eq!(uq("|牛|"), "牛".as_bytes());
        assert_eq!(uq(r#""""#), b"");
    }

    #[test]
    fn escapes() {
        assert_eq!(
            uq(r#""a\n\t\\\"\a\b\f\r\v""#),
            b"a\n\t\\\"\x07\x08\x0c\r\x0b"
        );
        assert_eq!(uq(r#""\101\x41\u0041\U0001F600""#), "AAA😀".as_bytes());
        assert_eq!(uq(r"/foo\/bar/"), b"foo/bar");
        assert_eq!(uq(r"|foo\|bar|"), b"foo|bar");
        assert_eq!(uq(r#""\xff""#), [0xff]);
        assert_eq!(uq(r#""\377""#), [0xff]);
        assert_eq!(uq(r#""\ud800""#), "\u{fffd}".as_bytes());
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            r#"""#,
            r#""abc/"#,
            r#""\400""#,
            r#""\U00110000""#,
            r#""\x4""#,
            r#""\q""#,
            r#""\/""#,
            r#"/\"/"#,
            r#""\'""#,
            "'a'",
            "\"a\nb\"",
            r#""a"b""#,
        ] {
            assert_eq!(unquote(bad), Err(QuoteSyntax), "{bad:?}");
        }
    }
}
