//! json and jsonb input validation, with PostgreSQL's error details.
//!
//! Values stay text (the backend stores them as written); this only checks
//! that a parameter is JSON the way `json_in`/`jsonb_in` would, without
//! recursion so nesting depth cannot exhaust the stack. jsonb is stricter:
//! `\u0000` and unpaired surrogate escapes are rejected.

use crate::wire::error::{PgError, sqlstate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    Json,
    Jsonb,
}

/// Checks `text` is one JSON value.
pub(super) fn validate(text: &str, flavor: Flavor) -> Result<(), PgError> {
    Parser {
        s: text.as_bytes(),
        text,
        i: 0,
        token_start: 0,
        flavor,
    }
    .run()
    .map_err(JsonError::into_pg)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    ObjectStart,
    ObjectEnd,
    ArrayStart,
    ArrayEnd,
    Comma,
    Colon,
    String(&'a str),
    Scalar,
    End,
}

#[derive(Debug)]
enum JsonError {
    /// 22P02 with this detail.
    Syntax(String),
    /// 22P05: `\u0000` in jsonb.
    CodePointZero,
}

impl JsonError {
    fn into_pg(self) -> PgError {
        match self {
            JsonError::Syntax(detail) => PgError::error(
                sqlstate::INVALID_TEXT_REPRESENTATION,
                "invalid input syntax for type json",
            )
            .with_detail(detail),
            JsonError::CodePointZero => PgError::error(
                sqlstate::UNTRANSLATABLE_CHARACTER,
                "unsupported Unicode escape sequence",
            )
            .with_detail("\\u0000 cannot be converted to text."),
        }
    }
}

/// What the parser expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Value,
    ArrayFirst,
    ArrayNext,
    ObjectFirst,
    ObjectLabel,
    Colon,
    ObjectNext,
    End,
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    /// Where the last lexed token began.
    token_start: usize,
    flavor: Flavor,
}

/// PostgreSQL's JSON_ALPHANUMERIC_CHAR: what counts as part of a bad token.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn syntax(detail: String) -> JsonError {
    JsonError::Syntax(detail)
}

impl<'a> Parser<'a> {
    fn run(mut self) -> Result<(), JsonError> {
        // true = object, false = array.
        let mut stack: Vec<bool> = Vec::new();
        let mut expect = Expect::Value;
        loop {
            let token = self.lex()?;
            let start = self.token_start;
            let found = || {
                let shown = self.text.get(start..self.i).unwrap_or_default();
                shown.to_owned()
            };
            if token == Token::End && expect != Expect::End {
                return Err(syntax("The input string ended unexpectedly.".into()));
            }
            let is_value_start = matches!(
                token,
                Token::ObjectStart | Token::ArrayStart | Token::String(_) | Token::Scalar
            );
            expect = match (expect, token) {
                (Expect::End, Token::End) => return Ok(()),
                (Expect::End, _) => {
                    return Err(syntax(format!(
                        "Expected end of input, but found \"{}\".",
                        found()
                    )));
                }
                (Expect::Value | Expect::ArrayFirst, Token::ObjectStart) => {
                    stack.push(true);
                    Expect::ObjectFirst
                }
                (Expect::Value | Expect::ArrayFirst, Token::ArrayStart) => {
                    stack.push(false);
                    Expect::ArrayFirst
                }
                (Expect::Value | Expect::ArrayFirst, _) if is_value_start => after_value(&stack),
                (Expect::ArrayFirst | Expect::ArrayNext, Token::ArrayEnd)
                | (Expect::ObjectFirst | Expect::ObjectNext, Token::ObjectEnd) => {
                    stack.pop();
                    after_value(&stack)
                }
                (Expect::Value, _) => {
                    return Err(syntax(format!(
                        "Expected JSON value, but found \"{}\".",
                        found()
                    )));
                }
                (Expect::ArrayFirst, _) => {
                    return Err(syntax(format!(
                        "Expected array element or \"]\", but found \"{}\".",
                        found()
                    )));
                }
                (Expect::ArrayNext, Token::Comma) => Expect::Value,
                (Expect::ArrayNext, _) => {
                    return Err(syntax(format!(
                        "Expected \",\" or \"]\", but found \"{}\".",
                        found()
                    )));
                }
                (Expect::ObjectFirst | Expect::ObjectLabel, Token::String(_)) => Expect::Colon,
                (Expect::ObjectFirst, _) => {
                    return Err(syntax(format!(
                        "Expected string or \"}}\", but found \"{}\".",
                        found()
                    )));
                }
                (Expect::ObjectLabel, _) => {
                    return Err(syntax(format!(
                        "Expected string, but found \"{}\".",
                        found()
                    )));
                }
                (Expect::Colon, Token::Colon) => Expect::Value,
                (Expect::Colon, _) => {
                    return Err(syntax(format!(
                        "Expected \":\", but found \"{}\".",
                        found()
                    )));
                }
                (Expect::ObjectNext, Token::Comma) => Expect::ObjectLabel,
                (Expect::ObjectNext, _) => {
                    return Err(syntax(format!(
                        "Expected \",\" or \"}}\", but found \"{}\".",
                        found()
                    )));
                }
            };
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// The next token; leaves `self.i` after it (for error reporting the
    /// token is `text[start..i]`).
    fn lex(&mut self) -> Result<Token<'a>, JsonError> {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
        let start = self.i;
        self.token_start = start;
        let Some(c) = self.peek() else {
            return Ok(Token::End);
        };
        let punct = match c {
            b'{' => Some(Token::ObjectStart),
            b'}' => Some(Token::ObjectEnd),
            b'[' => Some(Token::ArrayStart),
            b']' => Some(Token::ArrayEnd),
            b',' => Some(Token::Comma),
            b':' => Some(Token::Colon),
            _ => None,
        };
        if let Some(token) = punct {
            self.i += 1;
            return Ok(token);
        }
        match c {
            b'"' => self.lex_string(start),
            b'-' | b'0'..=b'9' => self.lex_number(start),
            _ => {
                while self.peek().is_some_and(is_word_byte) {
                    self.i += 1;
                }
                if self.i == start {
                    // One unexpected character (whole, if multibyte).
                    let width = self.text.get(start..).and_then(|r| r.chars().next());
                    self.i += width.map_or(1, char::len_utf8);
                    return Err(self.invalid_token(start));
                }
                match &self.s[start..self.i] {
                    b"true" | b"false" | b"null" => Ok(Token::Scalar),
                    _ => Err(self.invalid_token(start)),
                }
            }
        }
    }

    fn invalid_token(&self, start: usize) -> JsonError {
        let token = self.text.get(start..self.i).unwrap_or_default();
        syntax(format!("Token \"{token}\" is invalid."))
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, where any
    /// word characters stuck to it make the whole run an invalid token.
    fn lex_number(&mut self, start: usize) -> Result<Token<'a>, JsonError> {
        let mut ok = true;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => ok = false,
        }
        if ok && self.peek() == Some(b'.') {
            self.i += 1;
            ok = self.digits() > 0;
        }
        if ok && matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            ok = self.digits() > 0;
        }
        while self.peek().is_some_and(is_word_byte) {
            self.i += 1;
            ok = false;
        }
        if ok {
            Ok(Token::Scalar)
        } else {
            Err(self.invalid_token(start))
        }
    }

    fn lex_string(&mut self, start: usize) -> Result<Token<'a>, JsonError> {
        self.i += 1;
        let strict = self.flavor == Flavor::Jsonb;
        let mut high_surrogate = false;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.invalid_token(start));
            };
            if c == b'"' {
                if strict && high_surrogate {
                    return Err(low_surrogate_error());
                }
                self.i += 1;
                let text = self.text.get(start..self.i).unwrap_or_default();
                return Ok(Token::String(text));
            }
            if c < 0x20 {
                return Err(syntax(format!(
                    "Character with value 0x{c:02x} must be escaped."
                )));
            }
            if c != b'\\' {
                if strict && high_surrogate {
                    return Err(low_surrogate_error());
                }
                self.i += 1;
                continue;
            }
            self.i += 1;
            match self.peek() {
                None => return Err(self.invalid_token(start)),
                Some(b'u') => {
                    self.i += 1;
                    let hex = self.s.get(self.i..self.i + 4);
                    let code = hex
                        .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u16::from_str_radix(h, 16).ok());
                    let Some(code) = code else {
                        return Err(syntax(
                            "\"\\u\" must be followed by four hexadecimal digits.".into(),
                        ));
                    };
                    self.i += 4;
                    if strict {
                        match code {
                            0xD800..=0xDBFF if high_surrogate => {
                                return Err(syntax(
                                    "Unicode high surrogate must not follow a high surrogate."
                                        .into(),
                                ));
                            }
                            0xD800..=0xDBFF => high_surrogate = true,
                            0xDC00..=0xDFFF if !high_surrogate => {
                                return Err(low_surrogate_error());
                            }
                            0xDC00..=0xDFFF => high_surrogate = false,
                            _ if high_surrogate => return Err(low_surrogate_error()),
                            0 => return Err(JsonError::CodePointZero),
                            _ => {}
                        }
                    }
                }
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                    if strict && high_surrogate {
                        return Err(low_surrogate_error());
                    }
                    self.i += 1;
                }
                Some(_) => {
                    let escaped = self.text.get(self.i..).and_then(|r| r.chars().next());
                    return Err(syntax(format!(
                        "Escape sequence \"\\{}\" is invalid.",
                        escaped.unwrap_or('?')
                    )));
                }
            }
        }
    }
}

fn low_surrogate_error() -> JsonError {
    syntax("Unicode low surrogate must follow a high surrogate.".into())
}

fn after_value(stack: &[bool]) -> Expect {
    match stack.last() {
        None => Expect::End,
        Some(true) => Expect::ObjectNext,
        Some(false) => Expect::ArrayNext,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(s: &str, flavor: Flavor) -> String {
        let e = validate(s, flavor).unwrap_err();
        assert_eq!(e.message, "invalid input syntax for type json", "{s}");
        assert_eq!(e.code, "22P02");
        e.detail.unwrap()
    }

    #[test]
    fn accepts_valid_json() {
        for ok in [
            " [ ] ",
            "1e5",
            "-0.5E-3",
            "null",
            "{\"a\": [1, 2, {\"b\": null}], \"c\": \"\\u00e9\\n\"}",
            "\"\\ud800\"",
            "\"\\u0000\"",
            "[[[[[]]]]]",
            "0",
            "\"é\"",
        ] {
            assert!(validate(ok, Flavor::Json).is_ok(), "{ok}");
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(validate(&deep, Flavor::Jsonb).is_ok());
        assert!(validate("[\"\\ud800\\udc00\"]", Flavor::Jsonb).is_ok());
    }

    /// Details as PostgreSQL 15.18 reports them.
    #[test]
    fn details_match_postgres() {
        let cases = [
            ("{\"a\":1", "The input string ended unexpectedly."),
            ("[1,2", "The input string ended unexpectedly."),
            ("", "The input string ended unexpectedly."),
            ("tru", "Token \"tru\" is invalid."),
            ("{\"a\" 1}", "Expected \":\", but found \"1\"."),
            ("01", "Token \"01\" is invalid."),
            ("1.", "Token \"1.\" is invalid."),
            ("-", "Token \"-\" is invalid."),
            ("[1,]", "Expected JSON value, but found \"]\"."),
            ("{\"a\":1,}", "Expected string, but found \"}\"."),
            ("\"a\tb\"", "Character with value 0x09 must be escaped."),
            ("\"\\q\"", "Escape sequence \"\\q\" is invalid."),
            (
                "\"\\u12\"",
                "\"\\u\" must be followed by four hexadecimal digits.",
            ),
            ("NULL", "Token \"NULL\" is invalid."),
            ("[1] x", "Token \"x\" is invalid."),
            ("{1:2}", "Expected string or \"}\", but found \"1\"."),
            ("abc_def1", "Token \"abc_def1\" is invalid."),
            ("1x", "Token \"1x\" is invalid."),
            ("[1 2]", "Expected \",\" or \"]\", but found \"2\"."),
            ("[1] 2", "Expected end of input, but found \"2\"."),
            (
                "{\"a\":1 \"b\"}",
                "Expected \",\" or \"}\", but found \"\"b\"\".",
            ),
            ("[:", "Expected array element or \"]\", but found \":\"."),
        ];
        for (input, want) in cases {
            assert_eq!(detail(input, Flavor::Json), want, "{input:?}");
        }
    }

    #[test]
    fn jsonb_is_stricter() {
        assert_eq!(
            detail("\"\\ud800\"", Flavor::Jsonb),
            "Unicode low surrogate must follow a high surrogate."
        );
        assert_eq!(
            detail("\"\\udc00\"", Flavor::Jsonb),
            "Unicode low surrogate must follow a high surrogate."
        );
        assert_eq!(
            detail("\"\\ud800\\ud800\"", Flavor::Jsonb),
            "Unicode high surrogate must not follow a high surrogate."
        );
        assert_eq!(
            detail("\"\\ud800x\"", Flavor::Jsonb),
            "Unicode low surrogate must follow a high surrogate."
        );
        let e = validate("\"\\u0000\"", Flavor::Jsonb).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("22P05", "unsupported Unicode escape sequence")
        );
    }
}
