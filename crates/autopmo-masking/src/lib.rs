#![doc = include_str!("../README.md")]

use regex::{Captures, Regex, RegexSet};
use std::borrow::Cow;
use std::io::Write;
use std::sync::LazyLock;

struct Patterns {
    /// All four in one automaton: most lines hold none, and one pass over
    /// them says so (four separate searches cost about four times as much).
    any: RegexSet,
    email: Regex,
    ssn: Regex,
    card: Regex,
    phone: Regex,
}

const EMAIL: &str = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}";
const SSN: &str = r"\b\d{3}-\d{2}-\d{4}\b";
const CARD: &str = r"\b\d(?:[ \-]?\d){12,18}\b";
const PHONE: &str = r"(?:\+\d{1,3}[ .\-]?)?(?:\(\d{2,4}\)|\b\d{3})[ .\-]\d{3,4}[ .\-]\d{4}\b|\+\d{8,15}\b";

static PATTERNS: LazyLock<Option<Patterns>> = LazyLock::new(|| {
    Some(Patterns {
        any: RegexSet::new([EMAIL, SSN, CARD, PHONE]).ok()?,
        email: Regex::new(EMAIL).ok()?,
        ssn: Regex::new(SSN).ok()?,
        card: Regex::new(CARD).ok()?,
        phone: Regex::new(PHONE).ok()?,
    })
});

/// Whether `digits` passes the Luhn check that payment card numbers carry.
fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
        .sum();
    sum.is_multiple_of(10)
}

/// `text` with personal data replaced; borrowed when there was none.
pub fn mask(text: &str) -> Cow<'_, str> {
    let Some(p) = PATTERNS.as_ref() else { return Cow::Owned("[log line withheld: masker unavailable]".to_owned()) };
    // When none of them matches the line as given, the replacements below
    // would change nothing.
    if !p.any.is_match(text) {
        return Cow::Borrowed(text);
    }
    let mut out = Cow::Borrowed(text);
    if p.email.is_match(&out) {
        out = Cow::Owned(p.email.replace_all(&out, "***@***").into_owned());
    }
    if p.ssn.is_match(&out) {
        out = Cow::Owned(p.ssn.replace_all(&out, "***-**-****").into_owned());
    }
    if p.card.is_match(&out) {
        let replaced = p.card.replace_all(&out, |c: &Captures<'_>| {
            let whole = c.get(0).map_or("", |m| m.as_str());
            let digits: Vec<u32> = whole.chars().filter_map(|ch| ch.to_digit(10)).collect();
            if (13..=19).contains(&digits.len()) && luhn(&digits) {
                let last4: String = digits.iter().skip(digits.len() - 4).map(|d| char::from(b'0' + *d as u8)).collect();
                format!("****-****-****-{last4}")
            } else {
                whole.to_owned()
            }
        });
        out = Cow::Owned(replaced.into_owned());
    }
    if p.phone.is_match(&out) {
        out = Cow::Owned(p.phone.replace_all(&out, "[phone]").into_owned());
    }
    out
}

/// A writer that masks what it is given as one log line when dropped.
#[derive(Debug)]
pub struct MaskingWriter<W: Write> {
    buffer: Vec<u8>,
    inner: W,
}

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            let text = String::from_utf8_lossy(&self.buffer);
            self.inner.write_all(mask(&text).as_bytes())?;
            self.buffer.clear();
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for MaskingWriter<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Makes a [`MaskingWriter`] over stderr for each log event.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaskedStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MaskedStderr {
    type Writer = MaskingWriter<std::io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter { buffer: Vec::with_capacity(256), inner: std::io::stderr() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_guides_examples() {
        assert_eq!(mask("User john.smith@company.com created project"), "User ***@*** created project");
        assert_eq!(mask("ssn 123-45-6789 on file"), "ssn ***-**-**** on file");
        assert_eq!(mask("card 4111-1111-1111-1111 charged"), "card ****-****-****-1111 charged");
        assert_eq!(mask("card 4111 1111 1111 1111"), "card ****-****-****-1111");
        assert_eq!(mask("card 4111111111111111"), "card ****-****-****-1111");
        assert_eq!(mask("call +1 415-555-0100 now"), "call [phone] now");
        assert_eq!(mask("call (415) 555-0100"), "call [phone]");
        assert_eq!(mask("sms to +447911123456"), "sms to [phone]");
    }

    #[test]
    fn leaves_ordinary_log_fields_alone() {
        for line in [
            "2026-12-04T21:18:11.064497Z INFO request request_id=01a242eb-fa8d-764b-9d24-f29d6e55c8d1 status=200",
            "audit checkpoint signed sequence=1234567890123",
            "listening on 127.0.0.1:8080",
            "version 1.2.3-beta",
            "order 1234567890123456 (not a card: Luhn fails)",
        ] {
            assert_eq!(mask(line), line);
        }
    }

    #[test]
    fn the_writer_masks_whole_lines() {
        let mut out = Vec::new();
        {
            let mut w = MaskingWriter { buffer: Vec::new(), inner: &mut out };
            write!(w, "user ").unwrap();
            writeln!(w, "a@example.org logged in").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "user ***@*** logged in\n");
    }
}
