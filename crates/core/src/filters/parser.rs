//! Recursive-descent parser from one filter string to a conjunction of
//! selectors, following containerd's grammar and error positions:
//!
//! ```text
//! selectors := selector ("," selector)*
//! selector  := fieldpath (operator value)?
//! fieldpath := field ("." field)*
//! field     := quoted | [A-Za-z0-9_]+
//! operator  := "==" | "!=" | "~="
//! value     := quoted | [^\s,]+
//! ```

use std::fmt;

use regex::Regex;

use super::quote;
use super::scanner::{Ch, Scanner, Token};
use super::selector::{Operator, Selector};

/// Where and why a filter string failed to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParseError {
    input: String,
    pos: usize,
    msg: String,
}

impl ParseError {
    /// The byte offset of the offending input.
    #[cfg(test)]
    pub(super) fn pos(&self) -> usize {
        self.pos
    }
}

impl fmt::Display for ParseError {
    /// `filters: parse error: [before >|c|< after]: msg (at byte N)`, the
    /// marker around the character at fault, or `>|<` at the end of input.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self
            .input
            .get(self.pos..)
            .and_then(|rest| rest.chars().next());
        match (at, self.input.get(..self.pos)) {
            (Some(c), Some(before)) => {
                let after = self.input.get(self.pos + c.len_utf8()..).unwrap_or("");
                write!(f, "filters: parse error: [{before} >|{c}|< {after}]")?;
            }
            _ => write!(f, "filters: parse error: [{} >|<]", self.input)?,
        }
        write!(f, ": {} (at byte {})", self.msg, self.pos)
    }
}

/// Parses a non-empty filter string into the selectors that must all match.
pub(super) fn parse(input: &str) -> Result<Vec<Selector>, ParseError> {
    Parser {
        input,
        scanner: Scanner::new(input),
    }
    .selectors()
}

struct Parser<'a> {
    input: &'a str,
    scanner: Scanner<'a>,
}

impl Parser<'_> {
    fn error(&self, pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError {
            input: self.input.to_string(),
            pos,
            msg: msg.into(),
        }
    }

    fn scanner_error(&self, pos: usize) -> ParseError {
        self.error(pos, self.scanner.err.unwrap_or("illegal input"))
    }

    fn selectors(&mut self) -> Result<Vec<Selector>, ParseError> {
        let mut all = vec![self.selector()?];
        loop {
            match self.scanner.peek() {
                Ch::Rune(',') => {
                    let (pos, tok, _) = self.scanner.scan();
                    if tok != Token::Separator {
                        return Err(self.error(pos, "expected a separator"));
                    }
                    all.push(self.selector()?);
                }
                Ch::Eof => return Ok(all),
                other => {
                    let c = match other {
                        Ch::Rune(c) => c,
                        _ => char::REPLACEMENT_CHARACTER,
                    };
                    let pos = self.scanner.ppos;
                    return Err(self.error(pos, format!("unexpected input: {c}")));
                }
            }
        }
    }

    fn selector(&mut self) -> Result<Selector, ParseError> {
        let fieldpath = self.fieldpath()?;
        if matches!(self.scanner.peek(), Ch::Rune(',') | Ch::Eof) {
            return Ok(Selector::new(fieldpath, Operator::Present));
        }
        let op = self.operator()?;
        let (pos, value) = self.value(op == "~=")?;
        let op = match op {
            "==" => Operator::Equal(value),
            "!=" => Operator::NotEqual(value),
            _ => Operator::Matches(self.regex(pos, &value)?),
        };
        Ok(Selector::new(fieldpath, op))
    }

    fn fieldpath(&mut self) -> Result<Vec<String>, ParseError> {
        let mut fields = vec![self.field()?];
        while self.scanner.peek() == Ch::Rune('.') {
            let (pos, tok, _) = self.scanner.scan();
            if tok != Token::Separator {
                return Err(self.error(pos, "expected a field separator (`.`)"));
            }
            fields.push(self.field()?);
        }
        Ok(fields)
    }

    fn field(&mut self) -> Result<String, ParseError> {
        match self.scanner.scan() {
            (_, Token::Field, s) => Ok(s.to_string()),
            (pos, Token::Quoted, s) => {
                let bytes = self.unquote(pos, s, false)?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
            (pos, Token::Illegal, _) => Err(self.scanner_error(pos)),
            (pos, _, _) => Err(self.error(pos, "expected field or quoted")),
        }
    }

    /// Returns the operator's text: one of `==`, `!=`, `~=`.
    fn operator(&mut self) -> Result<&'static str, ParseError> {
        match self.scanner.scan() {
            (pos, Token::Operator, s) => match s {
                "==" => Ok("=="),
                "!=" => Ok("!="),
                "~=" => Ok("~="),
                other => Err(self.error(pos, format!("unsupported operator {other:?}"))),
            },
            (pos, Token::Illegal, _) => Err(self.scanner_error(pos)),
            (pos, _, _) => Err(self.error(pos, r#"expected an operator ("=="|"!="|"~=")"#)),
        }
    }

    /// Returns the value's offset and its bytes.
    fn value(&mut self, allow_alt_quotes: bool) -> Result<(usize, Vec<u8>), ParseError> {
        match self.scanner.scan() {
            (pos, Token::Value | Token::Field, s) => Ok((pos, s.as_bytes().to_vec())),
            (pos, Token::Quoted, s) => Ok((pos, self.unquote(pos, s, allow_alt_quotes)?)),
            (pos, Token::Illegal, _) => Err(self.scanner_error(pos)),
            (pos, _, _) => Err(self.error(pos, "expected value or quoted")),
        }
    }

    fn unquote(&self, pos: usize, s: &str, allow_alts: bool) -> Result<Vec<u8>, ParseError> {
        if !allow_alts && !s.starts_with(['"', '\'']) {
            return Err(self.error(pos, "invalid quote encountered"));
        }
        quote::unquote(s).map_err(|e| self.error(pos, format!("unquoting failed: {e}")))
    }

    fn regex(&self, pos: usize, value: &[u8]) -> Result<Regex, ParseError> {
        let pattern = std::str::from_utf8(value)
            .map_err(|_| self.error(pos, "invalid regular expression: invalid UTF-8"))?;
        Regex::new(pattern).map_err(|e| {
            let reason = regex_reason(&e);
            self.error(
                pos,
                format!("invalid regular expression {pattern:?}: {reason}"),
            )
        })
    }
}

/// The one-line reason out of the regex crate's multi-line syntax error.
fn regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("error: "))
            .unwrap_or(s)
            .trim()
            .to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &str) -> ParseError {
        match parse(input) {
            Ok(s) => panic!("{input:?} parsed as {s:?}"),
            Err(e) => e,
        }
    }

    fn paths(input: &str) -> Vec<Vec<String>> {
        match parse(input) {
            Ok(sels) => sels.iter().map(|s| s.fieldpath().to_vec()).collect(),
            Err(e) => panic!("{input:?}: {e}"),
        }
    }

    #[test]
    fn fieldpaths() {
        assert_eq!(paths("name"), [["name"]]);
        assert_eq!(paths(" name"), [["name"]]);
        assert_eq!(paths("labels.foo,name")[0], ["labels", "foo"]);
        assert_eq!(
            paths(r#"labels."more complex label with \\ and \"".post==present"#),
            [["labels", "more complex label with \\ and \"", "post"]]
        );
        assert_eq!(
            paths(r#"labels."com.example.key"==x"#),
            [["labels", "com.example.key"]]
        );
        assert_eq!(
            paths(r#""leading quote".postquote==value"#),
            [["leading quote", "postquote"]]
        );
        assert_eq!(paths("1abc"), [["1abc"]]);
    }

    #[test]
    fn containerd_error_messages() {
        for (input, want) in [
            (
                "labels.|foo|==omg_asdf.asdf-qwer",
                "[labels. >|||< foo|==omg_asdf.asdf-qwer]: invalid quote encountered (at byte 7)",
            ),
            (
                r#"labels.?"more complex label with \\ and \"".post==present"#,
                r#"[labels. >|?|< "more complex label with \\ and \"".post==present]: expected field or quoted (at byte 7)"#,
            ),
            (
                "name==foo,",
                "[name==foo, >|<]: expected field or quoted (at byte 10)",
            ),
            (
                "labels.",
                "[labels. >|<]: expected field or quoted (at byte 7)",
            ),
            (
                "image~=,id?=?fbaq",
                "[image~= >|,|< id?=?fbaq]: expected value or quoted (at byte 7)",
            ),
            (
                "labels.ns/key==value",
                "[labels.ns >|/|< key==value]: quoted literal not terminated (at byte 9)",
            ),
            (
                "labels.key==/value",
                "[labels.key== >|/|< value]: quoted literal not terminated (at byte 12)",
            ),
            (
                "labels.foo==",
                "[labels.foo== >|<]: expected value or quoted (at byte 12)",
            ),
        ] {
            assert_eq!(
                err(input).to_string(),
                format!("filters: parse error: {want}"),
                "{input:?}"
            );
        }
    }

    #[test]
    fn malformed_inputs() {
        for (input, pos, msg) in [
            ("", 0, "expected field or quoted"),
            ("   ", 3, "expected field or quoted"),
            (",name", 0, "expected field or quoted"),
            ("name,,id", 5, "expected field or quoted"),
            ("name=foo", 4, r#"unsupported operator "=""#),
            ("name===foo", 4, r#"unsupported operator "===""#),
            ("name!~foo", 4, r#"unsupported operator "!~""#),
            ("name?foo", 4, r#"expected an operator ("=="|"!="|"~=")"#),
            ("name ,id", 5, r#"expected an operator ("=="|"!="|"~=")"#),
            ("name==foo bar", 9, "unexpected input:  "),
            ("name==foo ", 9, "unexpected input:  "),
            (r#"name=="foo"bar"#, 11, "unexpected input: b"),
            ("name==.foo", 6, "expected value or quoted"),
            (r#"name=="foo"#, 6, "quoted literal not terminated"),
            (r#"labels."foo==x"#, 7, "quoted literal not terminated"),
            (r#"name=="a\qb""#, 6, "illegal escape sequence"),
            (r#"name=="\x4g""#, 6, "illegal numeric escape sequence"),
            (r#"name=="\400""#, 6, "unquoting failed: quote syntax error"),
            ("name==/foo/", 6, "invalid quote encountered"),
            ("name!=|foo|", 6, "invalid quote encountered"),
            (r"name~=/\d+/", 6, "illegal escape sequence"),
            ("na\0me", 2, "unexpected null"),
            ("name==\0", 6, "unexpected null"),
            (
                "name~=[abc",
                6,
                r#"invalid regular expression "[abc": unclosed character class"#,
            ),
            (
                "name~=/a(/",
                6,
                r#"invalid regular expression "a(": unclosed group"#,
            ),
            (
                r#"name~="\xff""#,
                6,
                "invalid regular expression: invalid UTF-8",
            ),
        ] {
            let e = err(input);
            assert_eq!((e.pos(), e.msg.as_str()), (pos, msg), "{input:?}: {e}");
        }
    }

    #[test]
    fn marker_spans_a_whole_character() {
        let e = err(r#"labels."名前"=x"#);
        assert_eq!(e.pos(), 15);
        assert_eq!(
            e.to_string(),
            r#"filters: parse error: [labels."名前" >|=|< x]: unsupported operator "=" (at byte 15)"#
        );
        let e = err("name==名前 x");
        assert_eq!(
            e.to_string(),
            "filters: parse error: [name==名前 >| |< x]: unexpected input:   (at byte 12)"
        );
    }
}
