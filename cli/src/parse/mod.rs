//! The expression language: source text to a syntax tree ([`Program`]), with errors that know
//! their column ([`ParseError`]).
//!
//! Owns the syntax tree and the recursive-descent parser (literals in `literal`), and nothing
//! about evaluation (see
//! `eval`). The grammar, informally:
//!
//! ```text
//! program   := statement ((";" | newline) statement)*
//! statement := "let" NAME "=" expr | expr
//! expr      := primary postfix*
//! postfix   := "." NAME | "." NAME "(" args ")" | "[" INTEGER "]" | "[" STRING "]"
//!            | "(" args ")" | ".map(" NAME "=>" expr ")" | ".map((" NAME ") =>" expr ")"
//! primary   := NAME | NAME "(" args ")" | literal | "[" args "]" | "{" (key ":" expr),* "}"
//!            | "@-" | "@" PATH | "(" expr ")"
//! literal   := JSON number | INTEGER "n" | STRING | true | false | null | undefined
//!            | Infinity | -Infinity | NaN | date(STRING | NUMBER) | bytes(BASE64) | hex(HEX)
//! ```

use std::fmt;

mod literal;

/// A parse error: a message and the 0-based character column it refers to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParseError {
    /// What is wrong.
    pub(crate) message: String,
    /// Character column (0-based) in the source where it went wrong.
    pub(crate) column: usize,
}

impl ParseError {
    /// Renders the error with the source echoed and a caret under the column:
    ///
    /// ```text
    /// parse error: expected `)` at column 14
    ///   makeCounter(5
    ///                ^
    /// ```
    pub(crate) fn render(&self, source: &str) -> String {
        // Show the line the column falls on; columns count characters across the whole source.
        let mut start = 0;
        let mut col = self.column;
        for line in source.split('\n') {
            let len = line.chars().count();
            if col <= len {
                break;
            }
            col -= len + 1;
            start += 1;
        }
        let line = source.split('\n').nth(start).unwrap_or("");
        format!(
            "parse error: {} at column {}\n  {}\n  {}^",
            self.message,
            self.column + 1,
            line,
            " ".repeat(col)
        )
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message, self.column + 1)
    }
}

/// A literal scalar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    /// `undefined`.
    Undefined,
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (also `Infinity`, `NaN`).
    Number(f64),
    /// A string.
    String(String),
    /// `123n`: the digits, with an optional leading `-`.
    BigInt(String),
    /// `date("2024-01-01T00:00:00Z")` or `date(1704067200000)`, as milliseconds since the epoch.
    Date(f64),
    /// `bytes("base64")` / `hex("0a0b")`.
    Bytes(Vec<u8>),
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// A literal.
    Lit(Lit),
    /// `[a, b]`.
    Array(Vec<Expr>),
    /// `{ "k": v, k2: v2 }`.
    Object(Vec<(String, Expr)>),
    /// A name: a variable if bound, else a property of the main object.
    Name(String),
    /// `name(args)` at the root: a variable called as a function if bound, else a method of
    /// the main object.
    CallName(String, Vec<Expr>),
    /// `target.name`.
    Get(Box<Expr>, String),
    /// `target[3]`.
    Index(Box<Expr>, u64),
    /// `target.name(args)`.
    Call(Box<Expr>, String, Vec<Expr>),
    /// `target(args)`, calling a result as a function.
    Invoke(Box<Expr>, Vec<Expr>),
    /// `target.map(param => body)`.
    Map(Box<Expr>, String, Box<Expr>),
    /// `@-`: a value read from standard input (in the same language, so JSON works).
    Stdin,
    /// `@path`: a value read from a file.
    File(String),
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Statement {
    /// `let name = expr`.
    Let(String, Expr),
    /// An expression whose value is printed.
    Expr(Expr),
}

/// A parsed program: one or more statements.
pub(crate) type Program = Vec<Statement>;

/// Parses a program.
pub(crate) fn parse_program(source: &str) -> Result<Program, ParseError> {
    let mut p = Parser::new(source);
    let mut statements = Vec::new();
    loop {
        p.skip_separators();
        if p.at_end() {
            break;
        }
        statements.push(p.statement()?);
        p.skip_spaces();
        if !p.at_end() && !p.eat(';') && !p.eat('\n') {
            return Err(p.error("expected `;`, a new line or the end"));
        }
    }
    if statements.is_empty() {
        return Err(ParseError {
            message: "empty expression".into(),
            column: 0,
        });
    }
    Ok(statements)
}

/// Parses a single expression (used for `@-` input); the whole text must be one expression.
pub(crate) fn parse_expr(source: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(source);
    p.skip_separators();
    let expr = p.expr()?;
    p.skip_separators();
    if !p.at_end() {
        return Err(p.error("unexpected text after the value"));
    }
    Ok(expr)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

impl Parser {
    fn new(source: &str) -> Self {
        Self {
            chars: source.chars().collect(),
            pos: 0,
        }
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            column: self.pos,
        }
    }

    fn error_at(&self, column: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            column,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    /// Skips spaces and tabs (not new lines, which separate statements).
    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.pos += 1;
        }
    }

    /// Skips all whitespace (inside brackets, new lines do not end a statement).
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace() || c == ';') {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        self.skip_ws();
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{c}`")))
        }
    }

    fn name(&mut self) -> Option<String> {
        if !self.peek().is_some_and(is_name_start) {
            return None;
        }
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        Some(self.chars[start..self.pos].iter().collect())
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        let start = self.pos;
        if self.name().as_deref() == Some("let") && self.peek().is_some_and(char::is_whitespace) {
            self.skip_ws();
            let Some(name) = self.name() else {
                return Err(self.error("expected a name after `let`"));
            };
            self.expect('=')?;
            return Ok(Statement::Let(name, self.expr()?));
        }
        self.pos = start;
        Ok(Statement::Expr(self.expr()?))
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        let mut expr = self.primary()?;
        loop {
            // Postfix operators may follow on the same line only.
            self.skip_spaces();
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    self.skip_ws();
                    let Some(name) = self.name() else {
                        return Err(self.error("expected a property or method name after `.`"));
                    };
                    self.skip_spaces();
                    if self.peek() == Some('(') {
                        if name == "map" {
                            if let Some((param, body)) = self.try_mapper()? {
                                expr = Expr::Map(Box::new(expr), param, Box::new(body));
                                continue;
                            }
                        }
                        self.pos += 1;
                        let args = self.list(')')?;
                        expr = Expr::Call(Box::new(expr), name, args);
                    } else {
                        expr = Expr::Get(Box::new(expr), name);
                    }
                }
                Some('[') => {
                    self.pos += 1;
                    self.skip_ws();
                    let at = self.pos;
                    expr = match self.primary()? {
                        Expr::Lit(Lit::String(key)) => Expr::Get(Box::new(expr), key),
                        Expr::Lit(Lit::Number(n)) if n >= 0.0 && n.fract() == 0.0 => {
                            Expr::Index(Box::new(expr), n as u64)
                        }
                        _ => {
                            return Err(self.error_at(
                                at,
                                "expected a non-negative integer or a string inside `[]`",
                            ))
                        }
                    };
                    self.expect(']')?;
                }
                Some('(') => {
                    self.pos += 1;
                    let args = self.list(')')?;
                    expr = Expr::Invoke(Box::new(expr), args);
                }
                _ => return Ok(expr),
            }
        }
    }

    /// At `(` after `.map`: parses `x => body)` or `(x) => body)` if that is what follows.
    fn try_mapper(&mut self) -> Result<Option<(String, Expr)>, ParseError> {
        let start = self.pos;
        self.pos += 1; // (
        self.skip_ws();
        let parenthesized = self.eat('(');
        self.skip_ws();
        let Some(param) = self.name() else {
            self.pos = start;
            return Ok(None);
        };
        self.skip_ws();
        if parenthesized && !self.eat(')') {
            self.pos = start;
            return Ok(None);
        }
        self.skip_ws();
        if !(self.eat('=') && self.eat('>')) {
            self.pos = start;
            return Ok(None);
        }
        let body = self.expr()?;
        self.expect(')')?;
        Ok(Some((param, body)))
    }

    /// Comma-separated expressions up to `close` (the opening bracket is already consumed).
    fn list(&mut self, close: char) -> Result<Vec<Expr>, ParseError> {
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.expr()?);
            self.skip_ws();
            if self.eat(close) {
                return Ok(items);
            }
            if !self.eat(',') {
                return Err(self.error(format!("expected `,` or `{close}`")));
            }
            self.skip_ws();
            if self.eat(close) {
                return Ok(items); // trailing comma
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Err(self.error("unexpected end of input, expected a value"));
        };
        match c {
            '"' | '\'' => Ok(Expr::Lit(Lit::String(self.string()?))),
            '[' => {
                self.pos += 1;
                Ok(Expr::Array(self.list(']')?))
            }
            '{' => self.object(),
            '(' => {
                self.pos += 1;
                let inner = self.expr()?;
                self.expect(')')?;
                Ok(inner)
            }
            '@' => {
                self.pos += 1;
                if self.eat('-') {
                    return Ok(Expr::Stdin);
                }
                let from = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| !c.is_whitespace() && !",)]};".contains(c))
                {
                    self.pos += 1;
                }
                if from == self.pos {
                    return Err(self.error("expected `-` (stdin) or a file path after `@`"));
                }
                Ok(Expr::File(self.chars[from..self.pos].iter().collect()))
            }
            '-' if self.peek_at(1) == Some('I') => {
                self.pos += 1;
                match self.name().as_deref() {
                    Some("Infinity") => Ok(Expr::Lit(Lit::Number(f64::NEG_INFINITY))),
                    _ => Err(self.error_at(start, "expected a number")),
                }
            }
            c if c == '-' || c.is_ascii_digit() => self.number(),
            c if is_name_start(c) => self.named(),
            other => Err(self.error(format!("unexpected `{other}`"))),
        }
    }

    fn named(&mut self) -> Result<Expr, ParseError> {
        let name = self.name().unwrap_or_default();
        let lit = match name.as_str() {
            "true" => Some(Lit::Bool(true)),
            "false" => Some(Lit::Bool(false)),
            "null" => Some(Lit::Null),
            "undefined" => Some(Lit::Undefined),
            "Infinity" => Some(Lit::Number(f64::INFINITY)),
            "NaN" => Some(Lit::Number(f64::NAN)),
            _ => None,
        };
        if let Some(lit) = lit {
            return Ok(Expr::Lit(lit));
        }
        self.skip_spaces();
        if self.peek() != Some('(') {
            return Ok(Expr::Name(name));
        }
        if let Some(lit) = self.constructor(&name)? {
            return Ok(Expr::Lit(lit));
        }
        self.pos += 1;
        let args = self.list(')')?;
        Ok(Expr::CallName(name, args))
    }

    fn object(&mut self) -> Result<Expr, ParseError> {
        self.pos += 1; // {
        let mut entries = Vec::new();
        self.skip_ws();
        if self.eat('}') {
            return Ok(Expr::Object(entries));
        }
        loop {
            self.skip_ws();
            let key = match self.peek() {
                Some('"' | '\'') => self.string()?,
                Some(c) if is_name_start(c) => self.name().unwrap_or_default(),
                _ => return Err(self.error("expected an object key")),
            };
            self.expect(':')?;
            entries.push((key, self.expr()?));
            self.skip_ws();
            if self.eat('}') {
                return Ok(Expr::Object(entries));
            }
            if !self.eat(',') {
                return Err(self.error("expected `,` or `}`"));
            }
            self.skip_ws();
            if self.eat('}') {
                return Ok(Expr::Object(entries));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_parses_into_nested_calls() {
        let program = parse_program("makeCounter(5).increment(1)").expect("parses");
        let Statement::Expr(Expr::Call(inner, method, args)) = &program[0] else {
            panic!("{program:?}")
        };
        assert_eq!(method, "increment");
        assert_eq!(args, &[Expr::Lit(Lit::Number(1.0))]);
        assert_eq!(
            **inner,
            Expr::CallName("makeCounter".into(), vec![Expr::Lit(Lit::Number(5.0))])
        );
    }

    #[test]
    fn literals() {
        let e = parse_expr(r#"[1, -2.5e3, "a\nb", 'c', 12n, undefined, null, true, {a: 1, "b c": [ ]}, hex("0aff"), bytes("AQI="), date("1970-01-01T00:00:01Z"), -Infinity]"#)
            .expect("parses");
        let Expr::Array(items) = e else { panic!() };
        assert_eq!(items[1], Expr::Lit(Lit::Number(-2500.0)));
        assert_eq!(items[2], Expr::Lit(Lit::String("a\nb".into())));
        assert_eq!(items[4], Expr::Lit(Lit::BigInt("12".into())));
        assert_eq!(items[9], Expr::Lit(Lit::Bytes(vec![10, 255])));
        assert_eq!(items[10], Expr::Lit(Lit::Bytes(vec![1, 2])));
        assert_eq!(items[11], Expr::Lit(Lit::Date(1000.0)));
        assert_eq!(items[12], Expr::Lit(Lit::Number(f64::NEG_INFINITY)));
    }

    #[test]
    fn map_takes_a_mapper_and_other_calls_named_map_stay_calls() {
        let p = parse_program("generateFibonacci(5).map(x => api.square(x))").expect("parses");
        assert!(matches!(&p[0], Statement::Expr(Expr::Map(_, param, _)) if param == "x"));
        let p = parse_program("a.map((y) => y.b)").expect("parses");
        assert!(matches!(&p[0], Statement::Expr(Expr::Map(_, param, _)) if param == "y"));
        let p = parse_program("a.map(3)").expect("parses");
        assert!(matches!(&p[0], Statement::Expr(Expr::Call(_, m, _)) if m == "map"));
    }

    #[test]
    fn statements_and_let() {
        let p = parse_program("let c = makeCounter(5); c.increment(2)\nc.value").expect("parses");
        assert_eq!(p.len(), 3);
        assert!(matches!(&p[0], Statement::Let(name, _) if name == "c"));
        // `letter` is a name, not `let`.
        let p = parse_program("letter").expect("parses");
        assert_eq!(p[0], Statement::Expr(Expr::Name("letter".into())));
    }

    #[test]
    fn errors_point_at_the_column() {
        let err = parse_program("makeCounter(5").expect_err("fails");
        assert_eq!(err.column, 13);
        let shown = err.render("makeCounter(5");
        assert!(
            shown.ends_with("\n  makeCounter(5\n               ^"),
            "{shown}"
        );
        let err = parse_program("a.b(1,, 2)").expect_err("fails");
        assert_eq!(err.column, 6);
        let err = parse_program("echo(\"abc)").expect_err("fails");
        assert_eq!(err.message, "unterminated string");
        assert_eq!(err.column, 5);
        assert!(parse_program("hex(\"abc\")").is_err());
        assert!(parse_program("date(\"yesterday\")").is_err());
    }

    #[test]
    fn stdin_and_files() {
        let p = parse_program("echo(@-, @args.json)").expect("parses");
        let Statement::Expr(Expr::CallName(_, args)) = &p[0] else {
            panic!()
        };
        assert_eq!(args, &[Expr::Stdin, Expr::File("args.json".into())]);
    }
}
