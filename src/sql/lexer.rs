//! A small lexer for PostgreSQL's SQL syntax.
//!
//! It owns tokenization for pgiris: splitting a simple-Query
//! string into statements, classifying a statement by its first keywords,
//! and giving [`translate`](super::translate) and [`infer`](super::infer) a
//! token stream in which literals, quoted identifiers and comments are
//! opaque. It follows PostgreSQL 15's `scan.l` closely enough that every
//! boundary (where a string ends, whether `;` is inside a dollar quote, how
//! `=-` splits) matches the server's, and it never fails: malformed input
//! (an unterminated string, a stray byte) becomes a token of its own.
//!
//! Tokens are `Copy` spans of byte offsets into the input; the lexer
//! allocates nothing. Not followed: string constants continued across a
//! newline (`'a'\n'b'`), and PostgreSQL 16's numeric underscores and
//! hex/octal/binary integers (PostgreSQL 15 reads `0x1f` as `0` and `x1f`). Every span starts and ends on a UTF-8 character
//! boundary because the lexer only ever splits at ASCII bytes.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An unquoted identifier or keyword (`select`, `t1`, `a$b`).
    Ident,
    /// A double-quoted identifier, also `U&"..."`.
    QuotedIdent,
    /// A standard-conforming string `'...'` (`''` is a quote), also `N'...'`.
    String,
    /// An escape string `E'...'` (backslash escapes).
    EscapeString,
    /// A Unicode-escape string `U&'...'`.
    UnicodeString,
    /// A bit string `B'...'` or `X'...'`.
    BitString,
    /// A dollar-quoted string `$tag$...$tag$`.
    DollarString,
    /// A numeric constant: `42`, `1.5`, `.5`, `1e10`.
    Number,
    /// A positional parameter `$n`.
    Param,
    /// An operator: `+`, `<>`, `||`, `->>` ...
    Operator,
    /// `::`
    TypeCast,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Semicolon,
    Dot,
    /// A single `:` (array slices, `:=` is lexed as `:` `=`).
    Colon,
    /// `-- ...` or `/* ... */` (nested).
    Comment,
    /// A byte PostgreSQL's lexer would reject (a lone `\`, `{`, `$` not
    /// starting a parameter or dollar quote, a control character).
    Other,
}

/// One token: its kind and the byte span `start..end` in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
    /// False for a string, quoted identifier or block comment that runs to
    /// the end of the input without its closing delimiter.
    pub terminated: bool,
}

impl Token {
    /// The token's text.
    pub fn text<'a>(&self, sql: &'a str) -> &'a str {
        sql.get(self.start..self.end).unwrap_or("")
    }

    /// Whether this is the unquoted keyword/identifier `word` (ASCII
    /// case-insensitive).
    pub fn is_word(&self, sql: &str, word: &str) -> bool {
        self.kind == TokenKind::Ident && self.text(sql).eq_ignore_ascii_case(word)
    }

    /// Whether this is a literal constant (string of any kind, number).
    pub fn is_literal(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::String
                | TokenKind::EscapeString
                | TokenKind::UnicodeString
                | TokenKind::BitString
                | TokenKind::DollarString
                | TokenKind::Number
        )
    }

    /// Whether this is a character-string literal (not a bit string).
    pub fn is_string(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::String
                | TokenKind::EscapeString
                | TokenKind::UnicodeString
                | TokenKind::DollarString
        )
    }
}

/// Iterator over the tokens of a SQL text, whitespace skipped, comments
/// included (see [`Lexer::significant`] to skip them too).
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    skip_comments: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(sql: &'a str) -> Lexer<'a> {
        Lexer {
            src: sql.as_bytes(),
            pos: 0,
            skip_comments: false,
        }
    }

    /// A lexer that also skips comments.
    pub fn significant(sql: &'a str) -> Lexer<'a> {
        Lexer {
            skip_comments: true,
            ..Lexer::new(sql)
        }
    }

    fn peek(&self, ahead: usize) -> u8 {
        self.src.get(self.pos + ahead).copied().unwrap_or(0)
    }

    fn token(&self, kind: TokenKind, start: usize, terminated: bool) -> Token {
        Token {
            kind,
            start,
            end: self.pos,
            terminated,
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(&b) = self.src.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// Scans a quoted run closed by `quote` (doubled `quote` stays inside),
    /// starting just after the opening quote. With `backslash`, `\x` never
    /// closes it. Returns whether the closing quote was found.
    fn scan_quoted(&mut self, quote: u8, backslash: bool) -> bool {
        while let Some(&b) = self.src.get(self.pos) {
            self.pos += 1;
            if backslash && b == b'\\' {
                if self.pos < self.src.len() {
                    self.pos += 1;
                }
            } else if b == quote {
                if self.peek(0) == quote {
                    self.pos += 1;
                } else {
                    return true;
                }
            }
        }
        false
    }

    fn scan_block_comment(&mut self) -> bool {
        // Positioned after the opening "/*"; PostgreSQL nests block comments.
        let mut depth = 1usize;
        while self.pos < self.src.len() {
            if self.peek(0) == b'/' && self.peek(1) == b'*' {
                depth += 1;
                self.pos += 2;
            } else if self.peek(0) == b'*' && self.peek(1) == b'/' {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    return true;
                }
            } else {
                self.pos += 1;
            }
        }
        false
    }

    fn scan_ident_rest(&mut self) {
        while self.pos < self.src.len() && is_ident_cont(self.src[self.pos]) {
            self.pos += 1;
        }
    }

    fn scan_number(&mut self) {
        while self.peek(0).is_ascii_digit() {
            self.pos += 1;
        }
        // `1..5` is an integer followed by `..` (PostgreSQL's rule for slices).
        if self.peek(0) == b'.' && self.peek(1) != b'.' {
            self.pos += 1;
            while self.peek(0).is_ascii_digit() {
                self.pos += 1;
            }
        }
        if matches!(self.peek(0), b'e' | b'E') {
            let sign = usize::from(matches!(self.peek(1), b'+' | b'-'));
            if self.peek(1 + sign).is_ascii_digit() {
                self.pos += 1 + sign;
                while self.peek(0).is_ascii_digit() {
                    self.pos += 1;
                }
            }
        }
    }

    /// At a `$` that is not a parameter: a dollar-quote opener `$tag$`?
    /// Returns the tag length including both `$` when it is.
    fn dollar_tag_len(&self) -> Option<usize> {
        let rest = &self.src[self.pos + 1..];
        let mut i = 0;
        if let Some(&b) = rest.first()
            && b != b'$'
        {
            if !is_ident_start(b) {
                return None;
            }
            while i < rest.len() && rest[i] != b'$' {
                // Tags follow identifier rules but may not contain `$`.
                if !is_ident_cont(rest[i]) {
                    return None;
                }
                i += 1;
            }
        }
        (rest.get(i) == Some(&b'$')).then_some(i + 2)
    }

    fn scan_operator(&mut self, start: usize) -> Token {
        let mut end = start;
        while end < self.src.len() && is_op_char(self.src[end]) {
            // A comment start ends the operator.
            if end > start
                && ((self.src[end] == b'-' && self.src.get(end + 1) == Some(&b'-'))
                    || (self.src[end] == b'/' && self.src.get(end + 1) == Some(&b'*')))
            {
                break;
            }
            end += 1;
        }
        // PostgreSQL: a multi-character operator cannot end in + or - unless
        // it contains one of ~ ! @ # % ^ & | ` ?, so `=-1` is `=` `-1`.
        let op = &self.src[start..end];
        if op.len() > 1
            && !op.iter().any(|b| {
                matches!(
                    b,
                    b'~' | b'!' | b'@' | b'#' | b'%' | b'^' | b'&' | b'|' | b'`' | b'?'
                )
            })
        {
            while end - start > 1 && matches!(self.src[end - 1], b'+' | b'-') {
                end -= 1;
            }
        }
        self.pos = end.max(start + 1);
        self.token(TokenKind::Operator, start, true)
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        loop {
            self.skip_whitespace();
            let start = self.pos;
            let b = *self.src.get(start)?;
            let tok = match b {
                b'-' if self.peek(1) == b'-' => {
                    while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                    self.token(TokenKind::Comment, start, true)
                }
                b'/' if self.peek(1) == b'*' => {
                    self.pos += 2;
                    let done = self.scan_block_comment();
                    self.token(TokenKind::Comment, start, done)
                }
                b'\'' => {
                    self.pos += 1;
                    let done = self.scan_quoted(b'\'', false);
                    self.token(TokenKind::String, start, done)
                }
                b'"' => {
                    self.pos += 1;
                    let done = self.scan_quoted(b'"', false);
                    self.token(TokenKind::QuotedIdent, start, done)
                }
                b'e' | b'E' if self.peek(1) == b'\'' => {
                    self.pos += 2;
                    let done = self.scan_quoted(b'\'', true);
                    self.token(TokenKind::EscapeString, start, done)
                }
                b'n' | b'N' if self.peek(1) == b'\'' => {
                    self.pos += 2;
                    let done = self.scan_quoted(b'\'', false);
                    self.token(TokenKind::String, start, done)
                }
                b'b' | b'B' | b'x' | b'X' if self.peek(1) == b'\'' => {
                    self.pos += 2;
                    let done = self.scan_quoted(b'\'', false);
                    self.token(TokenKind::BitString, start, done)
                }
                b'u' | b'U' if self.peek(1) == b'&' && matches!(self.peek(2), b'\'' | b'"') => {
                    let quote = self.peek(2);
                    self.pos += 3;
                    let done = self.scan_quoted(quote, false);
                    let kind = if quote == b'"' {
                        TokenKind::QuotedIdent
                    } else {
                        TokenKind::UnicodeString
                    };
                    self.token(kind, start, done)
                }
                b'$' if self.peek(1).is_ascii_digit() => {
                    self.pos += 1;
                    while self.peek(0).is_ascii_digit() {
                        self.pos += 1;
                    }
                    self.token(TokenKind::Param, start, true)
                }
                b'$' => match self.dollar_tag_len() {
                    Some(tag_len) => {
                        let tag = &self.src[start..start + tag_len];
                        self.pos = start + tag_len;
                        let body = &self.src[self.pos..];
                        match find(body, tag) {
                            Some(i) => {
                                self.pos += i + tag_len;
                                self.token(TokenKind::DollarString, start, true)
                            }
                            None => {
                                self.pos = self.src.len();
                                self.token(TokenKind::DollarString, start, false)
                            }
                        }
                    }
                    None => {
                        self.pos += 1;
                        self.token(TokenKind::Other, start, true)
                    }
                },
                b'0'..=b'9' => {
                    self.scan_number();
                    self.token(TokenKind::Number, start, true)
                }
                b'.' if self.peek(1).is_ascii_digit() => {
                    self.scan_number();
                    self.token(TokenKind::Number, start, true)
                }
                b':' if self.peek(1) == b':' => {
                    self.pos += 2;
                    self.token(TokenKind::TypeCast, start, true)
                }
                b'(' | b')' | b'[' | b']' | b',' | b';' | b'.' | b':' => {
                    self.pos += 1;
                    let kind = match b {
                        b'(' => TokenKind::LParen,
                        b')' => TokenKind::RParen,
                        b'[' => TokenKind::LBracket,
                        b']' => TokenKind::RBracket,
                        b',' => TokenKind::Comma,
                        b';' => TokenKind::Semicolon,
                        b'.' => TokenKind::Dot,
                        _ => TokenKind::Colon,
                    };
                    self.token(kind, start, true)
                }
                _ if is_ident_start(b) => {
                    self.pos += 1;
                    self.scan_ident_rest();
                    self.token(TokenKind::Ident, start, true)
                }
                _ if is_op_char(b) => self.scan_operator(start),
                _ => {
                    self.pos += 1;
                    self.token(TokenKind::Other, start, true)
                }
            };
            if self.skip_comments && tok.kind == TokenKind::Comment {
                continue;
            }
            return Some(tok);
        }
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_op_char(b: u8) -> bool {
    matches!(
        b,
        b'~' | b'!'
            | b'@'
            | b'#'
            | b'^'
            | b'&'
            | b'|'
            | b'`'
            | b'?'
            | b'+'
            | b'-'
            | b'*'
            | b'/'
            | b'%'
            | b'<'
            | b'>'
            | b'='
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        match haystack[i..].iter().position(|&b| b == first) {
            Some(p) => {
                i += p;
                if haystack.get(i..i + needle.len()) == Some(needle) {
                    return Some(i);
                }
                i += 1;
            }
            None => return None,
        }
    }
    None
}

/// The significant tokens (comments dropped) of `sql`, collected.
pub fn tokens(sql: &str) -> Vec<Token> {
    Lexer::significant(sql).collect()
}

/// Splits a simple-Query string into its statements at top-level semicolons,
/// the way psql and the server see them: a `;` inside a literal, a quoted
/// identifier, a comment, a dollar quote, parentheses, or a `BEGIN ... END`
/// body of `CREATE TRIGGER` / `CREATE FUNCTION ... BEGIN ATOMIC` does not
/// split. Each statement is the slice from its first to its last significant
/// token (surrounding whitespace and comments dropped, no `;`); statements
/// with no tokens are dropped, so an all-empty query gives an empty vector
/// (EmptyQueryResponse). A statement's offset in `sql` is
/// `stmt.as_ptr() as usize - sql.as_ptr() as usize`.
pub fn split_statements(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut first: Option<Token> = None;
    let mut last_end = 0;
    let mut parens = 0usize;
    let mut blocks = 0usize;
    // Position of the token within its statement, the statement's kind of
    // block body, and the previous token (for `BEGIN ATOMIC`).
    let mut index = 0usize;
    let mut body: Option<Body> = None;
    let mut prev: Option<Token> = None;
    for tok in Lexer::significant(sql) {
        if tok.kind == TokenKind::Semicolon && parens == 0 && blocks == 0 {
            if let Some(f) = first.take() {
                out.push(&sql[f.start..last_end]);
            }
            (index, body, prev) = (0, None, None);
            continue;
        }
        if first.is_none() {
            first = Some(tok);
        }
        last_end = tok.end;
        let is_create = first.is_some_and(|f| f.is_word(sql, "create"));
        match tok.kind {
            TokenKind::LParen => parens += 1,
            TokenKind::RParen => parens = parens.saturating_sub(1),
            TokenKind::Ident if is_create => {
                if index < 6 && body.is_none() {
                    if tok.is_word(sql, "trigger") {
                        body = Some(Body::Trigger);
                    } else if tok.is_word(sql, "function") || tok.is_word(sql, "procedure") {
                        body = Some(Body::Routine);
                    }
                }
                let opens = match body {
                    Some(Body::Trigger) => tok.is_word(sql, "begin"),
                    Some(Body::Routine) => {
                        tok.is_word(sql, "atomic") && prev.is_some_and(|p| p.is_word(sql, "begin"))
                    }
                    None => false,
                };
                if opens || (blocks > 0 && tok.is_word(sql, "case")) {
                    blocks += 1;
                } else if blocks > 0 && tok.is_word(sql, "end") {
                    blocks -= 1;
                }
            }
            _ => {}
        }
        index += 1;
        prev = Some(tok);
    }
    if let Some(f) = first {
        out.push(&sql[f.start..last_end]);
    }
    out
}

/// Statements whose body holds semicolons between BEGIN and END.
#[derive(Clone, Copy)]
enum Body {
    /// `CREATE TRIGGER ... BEGIN ... END` (SQLite)
    Trigger,
    /// `CREATE FUNCTION / PROCEDURE ... BEGIN ATOMIC ... END` (PostgreSQL)
    Routine,
}

/// The first `n` words of a statement as written (comments skipped),
/// stopping at the first token that is not an unquoted identifier:
/// `first_keywords("start transaction read only", 2)` is
/// `["start", "transaction"]`, `first_keywords("SET x = 1", 3)` is
/// `["SET", "x"]`. Compare with `eq_ignore_ascii_case`, or use
/// [`starts_with_keywords`].
pub fn first_keywords(stmt: &str, n: usize) -> Vec<&str> {
    Lexer::significant(stmt)
        .take(n)
        .take_while(|t| t.kind == TokenKind::Ident)
        .map(|t| t.text(stmt))
        .collect()
}

/// Whether the statement begins with exactly these words, case-insensitive:
/// `starts_with_keywords(sql, &["set", "transaction"])`.
pub fn starts_with_keywords(stmt: &str, words: &[&str]) -> bool {
    let mut lexer = Lexer::significant(stmt);
    words
        .iter()
        .all(|w| lexer.next().is_some_and(|t| t.is_word(stmt, w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(TokenKind, &str)> {
        Lexer::new(sql).map(|t| (t.kind, t.text(sql))).collect()
    }

    use TokenKind::*;

    #[test]
    fn basic_tokens() {
        assert_eq!(
            kinds("SELECT a.b, \"Q\"\"x\", 'it''s', 1.5e3, $12 FROM t;"),
            vec![
                (Ident, "SELECT"),
                (Ident, "a"),
                (Dot, "."),
                (Ident, "b"),
                (Comma, ","),
                (QuotedIdent, "\"Q\"\"x\""),
                (Comma, ","),
                (String, "'it''s'"),
                (Comma, ","),
                (Number, "1.5e3"),
                (Comma, ","),
                (Param, "$12"),
                (Ident, "FROM"),
                (Ident, "t"),
                (Semicolon, ";"),
            ]
        );
    }

    #[test]
    fn strings_of_every_kind() {
        assert_eq!(kinds(r"E'a\'b'"), vec![(EscapeString, r"E'a\'b'")]);
        // Standard-conforming: the backslash is literal, the quote closes.
        assert_eq!(kinds(r"'a\' 'b'"), vec![(String, r"'a\'"), (String, "'b'")]);
        assert_eq!(kinds("e'x''y'"), vec![(EscapeString, "e'x''y'")]);
        assert_eq!(kinds("N'x'"), vec![(String, "N'x'")]);
        assert_eq!(
            kinds("B'101' X'1f'"),
            vec![(BitString, "B'101'"), (BitString, "X'1f'")]
        );
        assert_eq!(kinds("U&'\\0041'"), vec![(UnicodeString, "U&'\\0041'")]);
        assert_eq!(kinds("U&\"a\""), vec![(QuotedIdent, "U&\"a\"")]);
        assert_eq!(
            kinds("$$a;'b$$ $tag$x$$y$tag$"),
            vec![(DollarString, "$$a;'b$$"), (DollarString, "$tag$x$$y$tag$")]
        );
        // An identifier may contain `$`; `a$b$` is not a dollar quote.
        assert_eq!(kinds("a$b$c"), vec![(Ident, "a$b$c")]);
    }

    #[test]
    fn unterminated_constructs_run_to_the_end() {
        for sql in ["'abc", "E'ab\\'", "\"id", "$q$body", "/* a /* b */"] {
            let toks: Vec<Token> = Lexer::new(sql).collect();
            assert_eq!(toks.len(), 1, "{sql}");
            assert!(!toks[0].terminated, "{sql}");
            assert_eq!(toks[0].end, sql.len());
        }
    }

    #[test]
    fn comments_nest_and_end_operators() {
        assert_eq!(
            kinds("a /* x /* y */ z */ b -- c\nd"),
            vec![
                (Ident, "a"),
                (Comment, "/* x /* y */ z */"),
                (Ident, "b"),
                (Comment, "-- c"),
                (Ident, "d")
            ]
        );
        assert_eq!(
            kinds("1+-- c\n2"),
            vec![
                (Number, "1"),
                (Operator, "+"),
                (Comment, "-- c"),
                (Number, "2")
            ]
        );
        let sig: Vec<_> = Lexer::significant("a/*c*/b").map(|t| t.kind).collect();
        assert_eq!(sig, vec![Ident, Ident]);
    }

    #[test]
    fn operators_follow_postgres_rules() {
        assert_eq!(
            kinds("a=-1"),
            vec![
                (Ident, "a"),
                (Operator, "="),
                (Operator, "-"),
                (Number, "1")
            ]
        );
        assert_eq!(
            kinds("a<>b||c->>'k' @- 1"),
            vec![
                (Ident, "a"),
                (Operator, "<>"),
                (Ident, "b"),
                (Operator, "||"),
                (Ident, "c"),
                (Operator, "->>"),
                (String, "'k'"),
                (Operator, "@-"),
                (Number, "1"),
            ]
        );
        assert_eq!(
            kinds("x::int[] :a"),
            vec![
                (Ident, "x"),
                (TypeCast, "::"),
                (Ident, "int"),
                (LBracket, "["),
                (RBracket, "]"),
                (Colon, ":"),
                (Ident, "a"),
            ]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(kinds(".5"), vec![(Number, ".5")]);
        assert_eq!(kinds("1e"), vec![(Number, "1"), (Ident, "e")]);
        assert_eq!(kinds("1e-5"), vec![(Number, "1e-5")]);
        assert_eq!(
            kinds("1..2"),
            vec![(Number, "1"), (Dot, "."), (Number, ".2")]
        );
        assert_eq!(kinds("123abc"), vec![(Number, "123"), (Ident, "abc")]);
    }

    #[test]
    fn stray_bytes_are_single_tokens() {
        assert_eq!(
            kinds("\\ { $ é"),
            vec![(Other, "\\"), (Other, "{"), (Other, "$"), (Ident, "é")]
        );
    }

    #[test]
    fn split_on_top_level_semicolons() {
        assert_eq!(
            split_statements("select 1; select ';' ; -- c\n ;; select $$;$$ /* ; */"),
            vec!["select 1", "select ';'", "select $$;$$"]
        );
        assert!(split_statements("").is_empty());
        assert!(split_statements(" ; -- only a comment\n;").is_empty());
        assert_eq!(
            split_statements("select (1;2); x"),
            vec!["select (1;2)", "x"]
        );
        let trigger = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN \
                       UPDATE u SET n = CASE WHEN 1 THEN 2 END; DELETE FROM v; END";
        assert_eq!(
            split_statements(&format!("{trigger}; select 1")),
            vec![trigger, "select 1"]
        );
        // BEGIN as a transaction statement is not a block.
        assert_eq!(
            split_statements("begin; select 1; end"),
            vec!["begin", "select 1", "end"]
        );
    }

    #[test]
    fn statement_offsets_are_recoverable() {
        let sql = "select 1;  select 2";
        let stmts = split_statements(sql);
        let off = stmts[1].as_ptr() as usize - sql.as_ptr() as usize;
        assert_eq!(off, 11);
    }

    #[test]
    fn keywords() {
        assert_eq!(
            first_keywords("/* c */ START transaction ISOLATION", 2),
            vec!["START", "transaction"]
        );
        assert_eq!(first_keywords("SET x = 1", 3), vec!["SET", "x"]);
        assert_eq!(first_keywords("(select 1)", 2), Vec::<&str>::new());
        assert!(starts_with_keywords(
            "set  Transaction read only",
            &["SET", "TRANSACTION"]
        ));
        assert!(!starts_with_keywords("set", &["SET", "TRANSACTION"]));
    }
}
