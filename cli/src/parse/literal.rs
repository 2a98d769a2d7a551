//! The literal part of the expression language: strings (JSON escapes, either quote), numbers
//! (JSON, with `123n` for bigint), and the constructors `date(..)`, `bytes(..)`, `hex(..)`.

use super::{Expr, Lit, ParseError, Parser};

impl Parser {
    /// `date(..)`, `bytes(..)`, `hex(..)` with a literal argument; `None` for anything else
    /// (then it is a call of a method of that name on the main object).
    pub(super) fn constructor(&mut self, name: &str) -> Result<Option<Lit>, ParseError> {
        if !matches!(name, "date" | "bytes" | "hex") {
            return Ok(None);
        }
        let open = self.pos;
        self.pos += 1;
        self.skip_ws();
        let at = self.pos;
        let arg = match self.peek() {
            Some('"' | '\'') => Lit::String(self.string()?),
            Some(c) if c == '-' || c.is_ascii_digit() => match self.number()? {
                Expr::Lit(lit) => lit,
                _ => return Err(self.error_at(at, "expected a number")),
            },
            _ => {
                // Not a literal argument: a server method that happens to have this name.
                self.pos = open;
                return Ok(None);
            }
        };
        self.skip_ws();
        if !self.eat(')') {
            self.pos = open;
            return Ok(None);
        }
        let bad = |message: String| ParseError {
            message,
            column: at,
        };
        let lit = match (name, arg) {
            ("date", Lit::String(s)) => Lit::Date(
                crate::render::parse_iso_date(&s)
                    .ok_or_else(|| bad(format!("not an ISO 8601 date: {s:?}")))?,
            ),
            ("date", Lit::Number(ms)) => Lit::Date(ms),
            ("bytes", Lit::String(s)) => {
                use base64::Engine;
                Lit::Bytes(
                    base64::engine::general_purpose::STANDARD
                        .decode(s.trim())
                        .map_err(|e| bad(format!("not base64 ({e})")))?,
                )
            }
            ("hex", Lit::String(s)) => Lit::Bytes(parse_hex(&s).ok_or_else(|| {
                bad("not hex (an even number of digits 0-9, a-f expected)".into())
            })?),
            (_, _) => return Err(bad(format!("`{name}(...)` takes a string argument"))),
        };
        Ok(Some(lit))
    }

    pub(super) fn number(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        self.eat('-');
        let digits_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == digits_start {
            return Err(self.error_at(start, "expected a number"));
        }
        let integer_end = self.pos;
        if self.eat('n') {
            let digits: String = self.chars[start..integer_end].iter().collect();
            return Ok(Expr::Lit(Lit::BigInt(digits)));
        }
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            let exp = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            if exp == self.pos {
                return Err(self.error("expected exponent digits"));
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse::<f64>()
            .map(|n| Expr::Lit(Lit::Number(n)))
            .map_err(|_| self.error_at(start, "not a number"))
    }

    pub(super) fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let quote = self.peek().unwrap_or('"');
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error_at(start, "unterminated string"));
            };
            self.pos += 1;
            match c {
                c if c == quote => return Ok(out),
                '\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.error_at(start, "unterminated string"));
                    };
                    self.pos += 1;
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        '0' => out.push('\0'),
                        'u' => out.push(self.unicode_escape()?),
                        other => out.push(other), // \" \' \\ \/ and anything else verbatim
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let at = self.pos;
        let hex4 = |p: &mut Parser| -> Option<u32> {
            let s: String = p.chars.get(p.pos..p.pos + 4)?.iter().collect();
            let v = u32::from_str_radix(&s, 16).ok()?;
            p.pos += 4;
            Some(v)
        };
        let bad = || ParseError {
            message: "bad \\u escape".into(),
            column: at,
        };
        let first = hex4(self).ok_or_else(bad)?;
        let code = if (0xD800..0xDC00).contains(&first) {
            // A surrogate pair: \uD83D\uDE00.
            if self.peek() == Some('\\') && self.peek_at(1) == Some('u') {
                self.pos += 2;
                let second = hex4(self).ok_or_else(bad)?;
                0x10000 + ((first - 0xD800) << 10) + (second.wrapping_sub(0xDC00) & 0x3FF)
            } else {
                return Err(bad());
            }
        } else {
            first
        };
        char::from_u32(code).ok_or_else(bad)
    }
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}
