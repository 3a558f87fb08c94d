//! Tokeniser for the filter language, a port of containerd's scanner.
//!
//! Positions are byte offsets into the input. The scanner never fails: bad
//! input becomes a [`Token::Illegal`] and the first problem seen is kept in
//! [`Scanner::err`] for the parser to report.

use std::sync::OnceLock;

use regex::Regex;

/// One step of the rune reader: a character, the end of input, or a
/// character the language refuses (NUL, U+FFFD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ch {
    /// No more input.
    Eof,
    /// A character that may not appear in a filter.
    Illegal,
    /// An ordinary character.
    Rune(char),
}

/// The kinds of token the parser consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Token {
    /// End of input.
    Eof,
    /// A `"…"`, `/…/` or `|…|` literal, quotes included.
    Quoted,
    /// A bare value following an operator.
    Value,
    /// A bare identifier (`[A-Za-z0-9_]+`).
    Field,
    /// `,` between selectors or `.` between fields.
    Separator,
    /// A run of `=`, `!` and `~`.
    Operator,
    /// Input the scanner could not tokenise; see [`Scanner::err`].
    Illegal,
    /// Any other single character.
    Other(char),
}

/// A cursor over one filter string.
pub(super) struct Scanner<'a> {
    input: &'a str,
    /// Start of the character read last.
    pub(super) pos: usize,
    /// End of the character read last, i.e. where the next one starts.
    pub(super) ppos: usize,
    /// Whether the next bare word is a value (set after an operator).
    value: bool,
    /// The first error met, kept even when later input is fine.
    pub(super) err: Option<&'static str>,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `input`.
    pub(super) fn new(input: &'a str) -> Self {
        Scanner {
            input,
            pos: 0,
            ppos: 0,
            value: false,
            err: None,
        }
    }

    fn error(&mut self, msg: &'static str) {
        if self.err.is_none() {
            self.err = Some(msg);
        }
    }

    fn text(&self, from: usize) -> &'a str {
        self.input.get(from..self.ppos).unwrap_or("")
    }

    /// Reads one character.
    pub(super) fn next(&mut self) -> Ch {
        if self.pos >= self.input.len() {
            return Ch::Eof;
        }
        self.pos = self.ppos;
        let Some(c) = self.input.get(self.ppos..).and_then(|r| r.chars().next()) else {
            return Ch::Eof;
        };
        self.ppos += c.len_utf8();
        match c {
            char::REPLACEMENT_CHARACTER => {
                self.error("rune error");
                Ch::Illegal
            }
            '\0' => {
                self.error("unexpected null");
                Ch::Illegal
            }
            c => Ch::Rune(c),
        }
    }

    /// Looks at the next character without consuming it.
    pub(super) fn peek(&mut self) -> Ch {
        let (pos, ppos) = (self.pos, self.ppos);
        let ch = self.next();
        self.pos = pos;
        self.ppos = ppos;
        ch
    }

    /// Reads one token: its start offset, kind and text.
    pub(super) fn scan(&mut self) -> (usize, Token, &'a str) {
        let mut ch = self.next();
        let mut pos = self.pos;
        while let Ch::Rune(c) = ch {
            if is_quote(c) {
                let ok = self.scan_quoted(c);
                let tok = if ok { Token::Quoted } else { Token::Illegal };
                return (pos, tok, self.text(pos));
            }
            if is_separator(c) {
                self.value = false;
                return (pos, Token::Separator, self.text(pos));
            }
            if is_operator(c) {
                self.scan_while(|ch| matches!(ch, Ch::Rune('=' | '!' | '~')));
                self.value = true;
                return (pos, Token::Operator, self.text(pos));
            }
            if c.is_whitespace() {
                ch = self.next();
                pos = self.pos;
                continue;
            }
            if self.value {
                self.scan_while(is_value);
                self.value = false;
                return (pos, Token::Value, self.text(pos));
            }
            if is_field(c) {
                self.scan_while(|ch| matches!(ch, Ch::Rune(c) if is_field(c)));
                return (pos, Token::Field, self.text(pos));
            }
            break;
        }
        let tok = match ch {
            Ch::Eof => Token::Eof,
            Ch::Illegal => Token::Illegal,
            Ch::Rune(c) => Token::Other(c),
        };
        (self.pos, tok, "")
    }

    fn scan_while(&mut self, accept: impl Fn(Ch) -> bool) {
        while accept(self.peek()) {
            self.next();
        }
    }

    /// Consumes a quoted literal whose opening `quote` was just read.
    /// Returns false when it is unterminated or holds a bad escape.
    fn scan_quoted(&mut self, quote: char) -> bool {
        let mut legal = true;
        let mut ch = self.next();
        loop {
            match ch {
                Ch::Rune(c) if c == quote => return legal,
                Ch::Rune('\n') | Ch::Eof | Ch::Illegal => {
                    self.error("quoted literal not terminated");
                    return false;
                }
                Ch::Rune('\\') => {
                    let (after, ok) = self.scan_escape(quote);
                    legal &= ok;
                    ch = after;
                }
                Ch::Rune(_) => ch = self.next(),
            }
        }
    }

    /// Consumes the escape after a backslash; returns the character after
    /// it and whether the escape was legal.
    fn scan_escape(&mut self, quote: char) -> (Ch, bool) {
        let ch = self.next();
        match ch {
            Ch::Rune(c) if c == quote => (self.next(), true),
            Ch::Rune('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => (self.next(), true),
            Ch::Rune('0'..='7') => self.scan_digits(ch, 8, 3),
            Ch::Rune('x') => {
                let first = self.next();
                self.scan_digits(first, 16, 2)
            }
            Ch::Rune('u') => {
                let first = self.next();
                self.scan_digits(first, 16, 4)
            }
            Ch::Rune('U') => {
                let first = self.next();
                self.scan_digits(first, 16, 8)
            }
            _ => {
                self.error("illegal escape sequence");
                (ch, false)
            }
        }
    }

    fn scan_digits(&mut self, mut ch: Ch, base: u32, mut n: usize) -> (Ch, bool) {
        while n > 0 && digit_value(ch) < base {
            ch = self.next();
            n -= 1;
        }
        if n > 0 {
            self.error("illegal numeric escape sequence");
            return (ch, false);
        }
        (ch, true)
    }
}

fn digit_value(ch: Ch) -> u32 {
    match ch {
        Ch::Rune(c) => c.to_digit(16).unwrap_or(16),
        _ => 16,
    }
}

fn is_field(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

fn is_operator(c: char) -> bool {
    matches!(c, '=' | '!' | '~')
}

fn is_quote(c: char) -> bool {
    matches!(c, '/' | '|' | '"')
}

fn is_separator(c: char) -> bool {
    matches!(c, ',' | '.')
}

/// Whether `ch` may continue a bare value: any graphic character except
/// `,` and white space (Go's `unicode.IsGraphic`: L, M, N, P, S, Zs).
fn is_value(ch: Ch) -> bool {
    let Ch::Rune(c) = ch else { return false };
    if c == ',' || c.is_whitespace() {
        return false;
    }
    if c.is_ascii() {
        return c.is_ascii_graphic();
    }
    static GRAPHIC: OnceLock<Option<Regex>> = OnceLock::new();
    let graphic = GRAPHIC.get_or_init(|| Regex::new(r"\A[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]\z").ok());
    match graphic {
        Some(re) => re.is_match(c.encode_utf8(&mut [0; 4])),
        None => !c.is_control(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: &str) -> Vec<(usize, Token, String, Option<&'static str>)> {
        let mut s = Scanner::new(input);
        let mut out = Vec::new();
        loop {
            let (pos, tok, text) = s.scan();
            let err = if tok == Token::Illegal { s.err } else { None };
            out.push((pos, tok, text.to_string(), err));
            if tok == Token::Eof {
                break;
            }
            assert!(out.len() < 100, "scanner does not advance on {input:?}");
        }
        assert_eq!(s.scan().1, Token::Eof, "must stay at EOF");
        out
    }

    fn ok(pos: usize, tok: Token, text: &str) -> (usize, Token, String, Option<&'static str>) {
        (pos, tok, text.to_string(), None)
    }

    fn bad(
        pos: usize,
        text: &str,
        err: &'static str,
    ) -> (usize, Token, String, Option<&'static str>) {
        (pos, Token::Illegal, text.to_string(), Some(err))
    }

    use Token::*;

    #[test]
    fn field_and_eof() {
        assert_eq!(tokens("name"), vec![ok(0, Field, "name"), ok(4, Eof, "")]);
    }

    #[test]
    fn selectors_with_field_paths() {
        assert_eq!(
            tokens("name==value,labels.foo=value,other.bar~=match"),
            vec![
                ok(0, Field, "name"),
                ok(4, Operator, "=="),
                ok(6, Value, "value"),
                ok(11, Separator, ","),
                ok(12, Field, "labels"),
                ok(18, Separator, "."),
                ok(19, Field, "foo"),
                ok(22, Operator, "="),
                ok(23, Value, "value"),
                ok(28, Separator, ","),
                ok(29, Field, "other"),
                ok(34, Separator, "."),
                ok(35, Field, "bar"),
                ok(38, Operator, "~="),
                ok(40, Value, "match"),
                ok(45, Eof, ""),
            ]
        );
    }

    #[test]
    fn regexp_values_bare_and_quoted() {
        assert_eq!(
            tokens(r"name~=[abc]\+,foo=test"),
            vec![
                ok(0, Field, "name"),
                ok(4, Operator, "~="),
                ok(6, Value, r"[abc]\+"),
                ok(13, Separator, ","),
                ok(14, Field, "foo"),
                ok(17, Operator, "="),
                ok(18, Value, "test"),
                ok(22, Eof, ""),
            ]
        );
        assert_eq!(
            tokens("name~=|牛|,labels.moo=true")[2],
            ok(6, Quoted, "|牛|")
        );
        assert_eq!(
            tokens(r"input~=/foo\/bar/,id!=ff")[2],
            ok(7, Quoted, r"/foo\/bar/")
        );
    }

    #[test]
    fn unicode_value_offsets_are_bytes() {
        assert_eq!(
            tokens("name~=牛,labels.moo=true")[2..4],
            [ok(6, Value, "牛"), ok(9, Separator, ",")]
        );
    }

    #[test]
    fn null_is_illegal_and_scanning_resumes() {
        assert_eq!(
            tokens("foo\0bar"),
            vec![
                ok(0, Field, "foo"),
                bad(3, "", "unexpected null"),
                ok(4, Field, "bar"),
                ok(7, Eof, ""),
            ]
        );
    }

    #[test]
    fn spaces_are_chomped_and_end_value_words() {
        assert_eq!(
            tokens("foo = bar    "),
            vec![
                ok(0, Field, "foo"),
                ok(4, Operator, "="),
                ok(6, Value, "bar"),
                ok(13, Eof, ""),
            ]
        );
        assert_eq!(
            tokens("doublevalue=value value")[2..],
            [
                ok(12, Value, "value"),
                ok(18, Field, "value"),
                ok(23, Eof, "")
            ]
        );
    }

    #[test]
    fn punctuated_values() {
        assert_eq!(
            tokens("compound.labels==punctuated_value.foo-bar")[4],
            ok(17, Value, "punctuated_value.foo-bar")
        );
    }

    #[test]
    fn missing_value_gives_separator() {
        assert_eq!(
            tokens("input==,id!=ff")[..4],
            [
                ok(0, Field, "input"),
                ok(5, Operator, "=="),
                ok(7, Separator, ","),
                ok(8, Field, "id"),
            ]
        );
    }

    #[test]
    fn illegal_quoted_literals() {
        assert_eq!(
            tokens("labels.containerd.io/key==value")[5..],
            [
                bad(20, "/key==value", "quoted literal not terminated"),
                ok(31, Eof, ""),
            ]
        );
        assert_eq!(
            tokens("labels.\"containerd.io\nkey\"==value")[2..],
            [
                bad(7, "\"containerd.io\n", "quoted literal not terminated"),
                ok(22, Field, "key"),
                bad(25, "\"==value", "quoted literal not terminated"),
                ok(33, Eof, ""),
            ]
        );
        assert_eq!(
            tokens(r#"labels."\g""#)[2..],
            [
                bad(7, r#""\g""#, "illegal escape sequence"),
                ok(11, Eof, "")
            ]
        );
        assert_eq!(
            tokens(r#"labels."\xaz""#)[2..],
            [
                bad(7, r#""\xaz""#, "illegal numeric escape sequence"),
                ok(13, Eof, "")
            ]
        );
    }

    #[test]
    fn legal_escapes() {
        assert_eq!(
            tokens(r#"name~="asdf\n\tfooo\"\\\101\x41\u0041\U00000041""#)[2],
            ok(6, Quoted, r#""asdf\n\tfooo\"\\\101\x41\u0041\U00000041""#)
        );
        assert_eq!(tokens(r"a~=|x\|y|")[2], ok(3, Quoted, r"|x\|y|"));
    }

    #[test]
    fn other_characters() {
        assert_eq!(tokens("?")[0], ok(0, Other('?'), ""));
        assert_eq!(tokens("\u{FFFD}")[0], bad(0, "", "rune error"));
    }

    #[test]
    fn value_runes() {
        assert!(is_value(Ch::Rune('牛')));
        assert!(is_value(Ch::Rune('é')));
        assert!(is_value(Ch::Rune('€')));
        assert!(!is_value(Ch::Rune(',')));
        assert!(!is_value(Ch::Rune('\u{a0}')));
        assert!(!is_value(Ch::Rune('\u{200b}')));
        assert!(!is_value(Ch::Rune('\u{7f}')));
        assert!(!is_value(Ch::Eof));
    }
}
