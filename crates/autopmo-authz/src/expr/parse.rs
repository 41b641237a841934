//! A hand-written lexer and recursive-descent parser for conditions.
//!
//! ```text
//! or    := and ("or" and)*
//! and   := not ("and" not)*
//! not   := "not" not | cmp
//! cmp   := atom (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") atom)?
//! atom  := "(" or ")" | string | number | "true" | "false" | "[" strings "]" | attribute
//! ```

use std::str::FromStr;

use rust_decimal::Decimal;

use super::{Attr, CmpOp, Expr, ExprError, Kind, Lit};

/// The largest magnitude a Cedar `decimal` holds (i64 / 10⁴).
const DECIMAL_MAX: i64 = 922_337_203_685_477;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(Decimal),
    Op(CmpOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    End,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Num(n) => format!("number {n}"),
        Tok::Op(op) => format!("`{}`", op.symbol()),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
        Tok::Comma => "`,`".into(),
        Tok::End => "the end of the condition".into(),
    }
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied();
    while let Some(c) = at(i) {
        let start = i;
        let two = |second: char| at(i + 1) == Some(second);
        let tok = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            '=' if two('=') => Tok::Op(CmpOp::Eq),
            '!' if two('=') => Tok::Op(CmpOp::Ne),
            '<' if two('=') => Tok::Op(CmpOp::Le),
            '>' if two('=') => Tok::Op(CmpOp::Ge),
            '<' => Tok::Op(CmpOp::Lt),
            '>' => Tok::Op(CmpOp::Gt),
            '=' => return Err(ExprError::new(i, "unexpected `=`; compare with `==`")),
            '!' => return Err(ExprError::new(i, "unexpected `!`; negate with `not`")),
            '&' => return Err(ExprError::new(i, "unexpected `&`; combine with `and`")),
            '|' => return Err(ExprError::new(i, "unexpected `|`; combine with `or`")),
            '"' | '\'' => {
                let (s, end) = lex_string(&chars, i)?;
                out.push((Tok::Str(s), start));
                i = end;
                continue;
            }
            c if c.is_ascii_digit() || (c == '-' && at(i + 1).is_some_and(|d| d.is_ascii_digit())) => {
                let mut end = i + 1;
                while at(end).is_some_and(|d| d.is_ascii_digit() || d == '.' || d == '_') {
                    end += 1;
                }
                let text: String = chars.get(i..end).unwrap_or_default().iter().filter(|c| **c != '_').collect();
                out.push((Tok::Num(number(&text, start)?), start));
                i = end;
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut end = i + 1;
                while at(end).is_some_and(|d| d.is_ascii_alphanumeric() || d == '_' || d == '.') {
                    end += 1;
                }
                out.push((Tok::Word(chars.get(i..end).unwrap_or_default().iter().collect()), start));
                i = end;
                continue;
            }
            other => return Err(ExprError::new(i, format!("unexpected character {other:?}"))),
        };
        i += if matches!(tok, Tok::Op(CmpOp::Lt | CmpOp::Gt)) || !matches!(tok, Tok::Op(_)) { 1 } else { 2 };
        out.push((tok, start));
    }
    out.push((Tok::End, chars.len()));
    Ok(out)
}

fn lex_string(chars: &[char], start: usize) -> Result<(String, usize), ExprError> {
    let quote = chars.get(start).copied().unwrap_or('"');
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i).copied() {
            None => return Err(ExprError::new(start, "unterminated string")),
            Some(c) if c == quote => return Ok((s, i + 1)),
            Some('\\') => {
                let escaped = match chars.get(i + 1).copied() {
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some(c @ ('\\' | '"' | '\'')) => c,
                    _ => return Err(ExprError::new(i, "unknown escape; use \\\\, \\\", \\', \\n or \\t")),
                };
                s.push(escaped);
                i += 2;
            }
            Some(c) => {
                s.push(c);
                i += 1;
            }
        }
    }
}

fn number(text: &str, pos: usize) -> Result<Decimal, ExprError> {
    let d = Decimal::from_str(text).map_err(|_| ExprError::new(pos, format!("invalid number `{text}`")))?;
    if d.scale() > 4 {
        return Err(ExprError::new(pos, format!("{text} has more than 4 decimal places")));
    }
    if d.abs() > Decimal::from(DECIMAL_MAX) {
        return Err(ExprError::new(pos, format!("{text} is out of range (at most {DECIMAL_MAX})")));
    }
    Ok(d)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    next: usize,
}

impl Parser {
    fn peek(&self) -> (&Tok, usize) {
        self.toks.get(self.next).map_or((&Tok::End, 0), |(t, p)| (t, *p))
    }

    fn bump(&mut self) -> (Tok, usize) {
        let (t, p) = self.peek();
        let out = (t.clone(), p);
        self.next += 1;
        out
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek().0, Tok::Word(x) if x == w)
    }

    fn unexpected<T>(&self, wanted: &str) -> Result<T, ExprError> {
        let (t, p) = self.peek();
        Err(ExprError::new(p, format!("expected {wanted}, found {}", describe(t))))
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.is_word("or") {
            self.bump();
            let right = self.and()?;
            left = Expr { pos: left.pos, kind: Kind::Or(Box::new(left), Box::new(right)) };
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.not()?;
        while self.is_word("and") {
            self.bump();
            let right = self.not()?;
            left = Expr { pos: left.pos, kind: Kind::And(Box::new(left), Box::new(right)) };
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.is_word("not") {
            let (_, pos) = self.bump();
            let inner = self.not()?;
            return Ok(Expr { pos, kind: Kind::Not(Box::new(inner)) });
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, ExprError> {
        let left = self.atom()?;
        let kind = match self.peek().0 {
            Tok::Op(op) => {
                let op = *op;
                self.bump();
                Kind::Cmp(Box::new(left.clone()), op, Box::new(self.atom()?))
            }
            Tok::Word(w) if w == "in" => {
                self.bump();
                Kind::In(Box::new(left.clone()), Box::new(self.atom()?))
            }
            _ => return Ok(left),
        };
        if matches!(self.peek().0, Tok::Op(_)) || self.is_word("in") {
            return self.unexpected("`and`, `or` or `)` (comparisons do not chain; use parentheses)");
        }
        Ok(Expr { pos: left.pos, kind })
    }

    fn atom(&mut self) -> Result<Expr, ExprError> {
        let (tok, pos) = self.peek();
        let kind = match tok.clone() {
            Tok::LParen => {
                self.bump();
                let inner = self.or()?;
                if self.peek().0 != &Tok::RParen {
                    return self.unexpected("`)`");
                }
                self.bump();
                return Ok(inner);
            }
            Tok::LBracket => return self.set(),
            Tok::Str(s) => Kind::Lit(Lit::Str(s)),
            Tok::Num(n) => Kind::Lit(Lit::Decimal(n)),
            Tok::Word(w) if w == "true" => Kind::Lit(Lit::Bool(true)),
            Tok::Word(w) if w == "false" => Kind::Lit(Lit::Bool(false)),
            Tok::Word(w) if matches!(w.as_str(), "and" | "or" | "not" | "in") => {
                return self.unexpected("a value or an attribute");
            }
            Tok::Word(w) => match Attr::lookup(&w) {
                Some(a) => Kind::Attr(a),
                None => {
                    return Err(ExprError::new(pos, format!("unknown attribute {w}; known: {}", Attr::known_names())));
                }
            },
            _ => return self.unexpected("a value or an attribute"),
        };
        self.bump();
        Ok(Expr { pos, kind })
    }

    fn set(&mut self) -> Result<Expr, ExprError> {
        let (_, pos) = self.bump();
        let mut items = Vec::new();
        loop {
            match self.bump() {
                (Tok::Str(s), _) => items.push(s),
                (Tok::RBracket, p) if items.is_empty() => {
                    return Err(ExprError::new(p, "an empty list matches nothing; remove the condition"));
                }
                (t, p) => {
                    return Err(ExprError::new(p, format!("expected a string in the list, found {}", describe(&t))));
                }
            }
            match self.bump() {
                (Tok::Comma, _) => {}
                (Tok::RBracket, _) => return Ok(Expr { pos, kind: Kind::Lit(Lit::Set(items)) }),
                (t, p) => return Err(ExprError::new(p, format!("expected `,` or `]`, found {}", describe(&t)))),
            }
        }
    }
}

/// The most `and`, `or`, `not` and `(` one condition may hold. It bounds
/// the depth of its tree, and so the recursion of everything that walks it
/// (the type checker, the compiler, the evaluator, dropping it): a policy
/// file cannot exhaust a thread's stack, at load or at a decision.
const MAX_OPERATORS: usize = 100;

/// Parses one condition (not yet type-checked).
pub(crate) fn parse(src: &str) -> Result<Expr, ExprError> {
    let toks = lex(src)?;
    let nesting =
        |t: &Tok| matches!(t, Tok::LParen) || matches!(t, Tok::Word(w) if matches!(w.as_str(), "and" | "or" | "not"));
    if let Some((_, pos)) = toks.iter().filter(|(t, _)| nesting(t)).nth(MAX_OPERATORS) {
        return Err(ExprError::new(
            *pos,
            format!(
                "a condition may hold at most {MAX_OPERATORS} of `and`, `or`, `not` and `(`; \
                 split it into several conditions (all of them must hold) or use a list with `in`"
            ),
        ));
    }
    let mut p = Parser { toks, next: 0 };
    if p.peek().0 == &Tok::End {
        return Err(ExprError::new(0, "empty condition"));
    }
    let e = p.or()?;
    if p.peek().0 != &Tok::End {
        return p.unexpected("`and`, `or` or the end of the condition");
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::ResourceType;

    fn err(src: &str) -> (usize, String) {
        let e = parse(src).unwrap_err();
        (e.pos, e.message)
    }

    #[test]
    fn parses_precedence() {
        let e = parse("not a_b == 'x' or user.id in project.member_ids and true").err();
        assert!(e.unwrap().message.contains("unknown attribute a_b"));
        let e = parse("not user.id == 'x' or user.id in project.member_ids and true").unwrap();
        let Kind::Or(l, r) = e.kind else { panic!("{e:?}") };
        assert!(matches!(l.kind, Kind::Not(_)));
        assert!(matches!(r.kind, Kind::And(..)));
    }

    #[test]
    fn literals() {
        let e = parse(r#"project.budget >= -1_000.5 and "a\"b" == 'c' and project.status in ["x", 'y']"#).unwrap();
        e.check_condition(&[ResourceType::Project]).unwrap();
        assert_eq!(parse("1.23456").unwrap_err().message, "1.23456 has more than 4 decimal places");
        assert!(parse("1000000000000000").unwrap_err().message.contains("out of range"));
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        assert_eq!(err("user.id = 'x'"), (8, "unexpected `=`; compare with `==`".into()));
        assert_eq!(err("user.id == 'x' && true").0, 15);
        assert_eq!(err("(user.id == 'x'").0, 15);
        assert_eq!(err("user.id == 'x' user.id").0, 15);
        assert_eq!(err("user.id == == 'x'").0, 11);
        assert_eq!(err("'abc").0, 0);
        assert_eq!(err("a == b == c").0, 0);
        assert!(err("user.id == user.id == user.id").1.contains("do not chain"));
        assert_eq!(err("user.id in []").0, 12);
        assert_eq!(err("  ").1, "empty condition");
        assert!(err("project.foo == 'x'").1.starts_with("unknown attribute project.foo; known: user.id"));
    }

    #[test]
    fn conditions_cannot_nest_without_bound() {
        let deep = format!("{}request.mfa{}", "(".repeat(100_000), ")".repeat(100_000));
        let (pos, message) = err(&deep);
        assert_eq!(pos, 100);
        assert!(message.contains("at most 100 of `and`, `or`, `not` and `(`"), "{message}");
        assert!(parse(&format!("{}request.mfa", "not ".repeat(101))).is_err());
        assert!(parse(&vec!["request.mfa"; 102].join(" or ")).is_err());
        // Up to the bound is fine, and lists do not count.
        let list = format!("request.ip in [{}]", vec!["'x'"; 1_000].join(", "));
        parse(&format!("{}{list}", "not ".repeat(99))).unwrap();
        parse(&vec!["request.mfa"; 101].join(" and ")).unwrap();
    }

    #[test]
    fn type_errors() {
        let check = |src: &str, types: &[ResourceType]| parse(src).unwrap().check_condition(types).unwrap_err();
        let p = [ResourceType::Project];
        assert_eq!(check("project.budget == 'x'", &p).message, "cannot compare decimal with string");
        assert_eq!(check("project.owner_id < 3", &p).pos, 0);
        assert!(check("user.roles == user.roles", &p).message.contains("sets"));
        assert!(check("user.id in user.id", &p).message.contains("`in` needs"));
        assert!(check("user.id", &p).message.contains("must be true or false"));
        assert_eq!(check("true and user.id", &p).pos, 9);
        let e = check("task.status == 'done'", &[ResourceType::Task, ResourceType::Project]);
        assert_eq!(e.message, "task.status is not available for resource type project; it exists for: task");
        let e = check("project.id == 'p'", &[ResourceType::Audit]);
        assert!(e.message.contains("for: project, task, report, approval"), "{}", e.message);
        parse("not request.mfa or (request.method == 'GET')").unwrap().check_condition(&p).unwrap();
    }
}
