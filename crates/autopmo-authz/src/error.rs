//! Load errors that point into the file they came from.

use std::fmt;

/// One problem in a policy or matrix file, with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong, and what would be accepted.
    pub message: String,
}

impl PolicyError {
    pub(crate) fn new(line: usize, column: usize, message: impl Into<String>) -> Self {
        Self { line, column, message: message.into() }
    }

    /// The error at byte `offset` of `text`.
    pub(crate) fn at_offset(text: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = line_col(text, offset);
        Self::new(line, column, message)
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Every problem found in a policy file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyErrors {
    /// The file name the errors are reported against.
    pub source_name: String,
    /// The problems, sorted by position.
    pub errors: Vec<PolicyError>,
}

impl PolicyErrors {
    pub(crate) fn new(source_name: &str, mut errors: Vec<PolicyError>) -> Self {
        errors.sort_by_key(|e| (e.line, e.column));
        errors.dedup();
        Self { source_name: source_name.to_owned(), errors }
    }
}

impl fmt::Display for PolicyErrors {
    /// One line per error: `FILE:LINE:COL: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{e}", self.source_name)?;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 7), (2, 4)); // after the two-byte é
        assert_eq!(line_col(text, 99), (3, 2));
    }

    #[test]
    fn display_names_file_line_and_column() {
        let errs = PolicyErrors::new("p.yaml", vec![PolicyError::new(9, 1, "b"), PolicyError::new(2, 5, "a")]);
        assert_eq!(errs.to_string(), "p.yaml:2:5: a\np.yaml:9:1: b");
    }
}
