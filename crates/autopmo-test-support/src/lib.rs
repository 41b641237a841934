#![doc = include_str!("../README.md")]
#![expect(clippy::panic, clippy::expect_used, reason = "test support: failing loudly is the point")]

pub mod moto;

use sqlx::Connection;
use std::io::Write;
use std::sync::Once;

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDb {
    /// The URL to hand to AutoPMO.
    pub url: String,
    /// The engine.
    pub engine: Engine,
    dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A fresh database on `engine`; `None` when PostgreSQL tests are skipped.
    pub async fn new(engine: Engine) -> Option<Self> {
        match engine {
            Engine::Sqlite => Some(Self::sqlite()),
            Engine::Postgres => Self::postgres().await,
        }
    }

    /// A fresh SQLite file in its own temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("autopmo.db").display());
        Self { url, engine: Engine::Sqlite, dir: Some(dir), postgres: None }
    }

    /// A fresh PostgreSQL database, or `None` (with a notice) when none is configured.
    pub async fn postgres() -> Option<Self> {
        let Some(admin) = postgres_admin_url() else {
            if require_postgres() {
                panic!("AUTOPMO_TEST_REQUIRE_POSTGRES is set but AUTOPMO_TEST_POSTGRES_URL is not");
            }
            notice_skipped();
            return None;
        };
        let name = format!("autopmo_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(e) if !require_postgres() => {
                notice_unreachable(&e);
                return None;
            }
            Err(e) => panic!("cannot reach PostgreSQL at AUTOPMO_TEST_POSTGRES_URL: {e}"),
        };
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let url = replace_database(&admin, &name);
        Some(Self { url, engine: Engine::Postgres, dir: None, postgres: Some((admin, name)) })
    }

    /// The temporary directory of a SQLite database (for data files beside it).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside any runtime we may use; do the cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// The admin URL for PostgreSQL tests, if configured.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("AUTOPMO_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())
}

fn require_postgres() -> bool {
    std::env::var("AUTOPMO_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let (head, tail) = base.split_at(scheme_end);
    let host = tail.split_once('/').map_or(tail, |(h, _)| h);
    match query {
        Some(q) => format!("{head}{host}/{name}?{q}"),
        None => format!("{head}{host}/{name}"),
    }
}

static NOTICE: Once = Once::new();

fn notice_skipped() {
    NOTICE.call_once(|| {
        // Written past the test harness's capture so that it is always seen.
        let _ = writeln!(
            std::io::stderr(),
            "\nNOTICE: PostgreSQL tests SKIPPED: AUTOPMO_TEST_POSTGRES_URL is not set.\n\
             To run them: AUTOPMO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres (an account that may create databases).\n"
        );
    });
}

fn notice_unreachable(error: &sqlx::Error) {
    NOTICE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nNOTICE: PostgreSQL tests SKIPPED: cannot reach AUTOPMO_TEST_POSTGRES_URL ({error}).\n\
             Start PostgreSQL or fix the URL; set AUTOPMO_TEST_REQUIRE_POSTGRES=1 to make this an error.\n"
        );
    });
}

/// Writes each listed async test twice: `sqlite::name` and `postgres::name`.
/// Each test is an `async fn name(db: TestDb)`; the PostgreSQL copy returns
/// early (skipped) when no server is configured.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::TestDb::sqlite();
                    super::$name(db).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::TestDb::postgres().await else { return };
                    super::$name(db).await;
                }
            )+
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(replace_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            replace_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}

/// RFC 4648 base32 (upper-case, no padding) decoded — for tests that read
/// a TOTP secret as an authenticator app would. `None` for a character
/// outside the alphabet.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u64, Vec::new());
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)?;
        value = (value << 5) | u64::try_from(v).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((value >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod base32_tests {
    #[test]
    fn rfc4648_vectors() {
        assert_eq!(super::base32_decode("MZXW6YTBOI").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(super::base32_decode("MY").as_deref(), Some(&b"f"[..]));
        assert_eq!(super::base32_decode("my"), None);
    }
}
