//! Keyset (cursor) pagination and the small statement builder that lists use.
//!
//! A cursor is opaque to clients: base64url of `[sort, key, id]` of the last
//! row returned. The next page starts strictly after that `(key, id)` pair in
//! the requested order, so rows added or removed meanwhile never make a page
//! repeat or skip a row. Sort columns come from closed enums; values are
//! always bound.

use crate::error::{Result, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

/// The most rows one page may hold.
pub const MAX_LIMIT: u32 = 200;
/// Rows per page when the client does not say.
pub const DEFAULT_LIMIT: u32 = 50;

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// A column a list can be sorted by.
pub trait SortKey: Copy + std::fmt::Debug {
    /// The column (a static name, never client text).
    fn column(self) -> &'static str;
    /// The name used in the API and in cursors.
    fn name(self) -> &'static str;
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    sort: String,
    key: String,
    id: String,
}

impl Cursor {
    /// The cursor after a row whose sort value is `key`.
    pub fn after(sort: &str, key: String, id: String) -> Self {
        Self { sort: sort.to_owned(), key, id }
    }

    /// The sort order the cursor was made for (`name`, `-created_at`).
    pub fn sort(&self) -> &str {
        &self.sort
    }

    /// The opaque form handed to clients.
    pub fn encode(&self) -> String {
        let json = serde_json::json!([self.sort, self.key, self.id]);
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// Parses the opaque form; `None` when it was not made by [`encode`](Self::encode).
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.len() > 2048 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let (sort, key, id): (String, String, String) = serde_json::from_slice(&bytes).ok()?;
        Some(Self { sort, key, id })
    }
}

/// How to list: page size, start, order.
#[derive(Debug, Clone)]
pub struct ListParams<S> {
    /// Rows per page, 1..=[`MAX_LIMIT`].
    pub limit: u32,
    /// Start after this row.
    pub cursor: Option<Cursor>,
    /// Sort column.
    pub sort: S,
    /// Sort direction.
    pub direction: Direction,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// A statement assembled from static fragments and bound values.
#[derive(Debug, Default)]
pub(crate) struct Statement {
    sql: String,
    args: Vec<Arg>,
}

impl Statement {
    pub(crate) fn new(sql: &'static str) -> Self {
        Self { sql: sql.to_owned(), args: Vec::new() }
    }

    /// Appends a static fragment.
    pub(crate) fn push(&mut self, fragment: &'static str) -> &mut Self {
        self.sql.push_str(fragment);
        self
    }

    /// Binds a value and appends its placeholder.
    pub(crate) fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        let n = self.args.len();
        self.sql.push_str(&format!("${n}"));
        self
    }

    /// Appends `($a, $b, …)` binding each value; `(NULL)` for none, which matches nothing.
    pub(crate) fn bind_list(&mut self, values: impl IntoIterator<Item = String>) -> &mut Self {
        self.bind_args(values.into_iter().map(Arg::Text))
    }

    /// As [`bind_list`](Self::bind_list), for integers.
    pub(crate) fn bind_int_list(&mut self, values: impl IntoIterator<Item = i64>) -> &mut Self {
        self.bind_args(values.into_iter().map(Arg::Int))
    }

    fn bind_args(&mut self, values: impl IntoIterator<Item = Arg>) -> &mut Self {
        self.sql.push('(');
        let mut first = true;
        for v in values {
            if !first {
                self.sql.push_str(", ");
            }
            first = false;
            self.bind(v);
        }
        if first {
            self.sql.push_str("NULL");
        }
        self.sql.push(')');
        self
    }

    /// Appends `AND column = $n` for a present filter value.
    pub(crate) fn filter_eq(&mut self, column: &'static str, value: Option<String>) -> &mut Self {
        if let Some(v) = value {
            self.sql.push_str(" AND ");
            self.sql.push_str(column);
            self.sql.push_str(" = ");
            self.bind(Arg::Text(v));
        }
        self
    }

    /// Appends the keyset condition, the `ORDER BY` and the `LIMIT` (one row
    /// more than the page, to know whether another page follows).
    pub(crate) fn paginate<S: SortKey>(&mut self, params: &ListParams<S>) -> Result<&mut Self> {
        self.paginate_with_id_column(params, "id")
    }

    /// As [`paginate`](Self::paginate), breaking ties on `id_column`.
    pub(crate) fn paginate_with_id_column<S: SortKey>(
        &mut self,
        params: &ListParams<S>,
        id_column: &'static str,
    ) -> Result<&mut Self> {
        let column = params.sort.column();
        let (cmp, order) = match params.direction {
            Direction::Asc => (" > ", " ASC"),
            Direction::Desc => (" < ", " DESC"),
        };
        if let Some(cursor) = &params.cursor {
            if cursor.sort != cursor_sort_name(params) {
                return Err(StoreError::Rule("the cursor belongs to a different sort order".to_owned()));
            }
            self.sql.push_str(&format!(" AND ({column}{cmp}"));
            self.bind(Arg::Text(cursor.key.clone()));
            self.sql.push_str(&format!(" OR ({column} = "));
            self.bind(Arg::Text(cursor.key.clone()));
            self.sql.push_str(&format!(" AND {id_column}{cmp}"));
            self.bind(Arg::Text(cursor.id.clone()));
            self.sql.push_str("))");
        }
        self.sql.push_str(&format!(" ORDER BY {column}{order}, {id_column}{order} LIMIT "));
        self.bind(Arg::Int(i64::from(params.limit.clamp(1, MAX_LIMIT)) + 1));
        Ok(self)
    }

    /// The sqlx query with every value bound.
    pub(crate) fn query(&self) -> Query<'_, Any, AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(self.sql.clone()));
        for arg in &self.args {
            query = match arg {
                Arg::Text(v) => query.bind(v.clone()),
                Arg::Int(v) => query.bind(*v),
            };
        }
        query
    }
}

fn cursor_sort_name<S: SortKey>(params: &ListParams<S>) -> String {
    match params.direction {
        Direction::Asc => params.sort.name().to_owned(),
        Direction::Desc => format!("-{}", params.sort.name()),
    }
}

/// Cuts the extra row off and makes the next cursor from the last kept row.
pub(crate) fn finish<T, S: SortKey>(
    mut rows: Vec<T>,
    params: &ListParams<S>,
    key_of: impl Fn(&T) -> (String, String),
) -> Page<T> {
    let limit = params.limit.clamp(1, MAX_LIMIT) as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more {
        rows.last().map(|last| {
            let (key, id) = key_of(last);
            Cursor::after(&cursor_sort_name(params), key, id).encode()
        })
    } else {
        None
    };
    Page { items: rows, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor::after("name", "Apollo".into(), "0193".into());
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("not a cursor!"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("{\"a\":1}")), None);
    }
}
