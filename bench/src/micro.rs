//! `autopmo-bench micro`: the limits, measured in one process pinned to the
//! server's core — raw argon2id with the configured parameters, RS256 sign
//! and verify with the product's own JWS code, the authorization decision
//! (the cases of `cargo bench -p autopmo-authz`), and commit rates of
//! SQLite (WAL, `synchronous` as configured) and PostgreSQL (default fsync).

#[path = "../../crates/autopmo-authz/benches/common/cases.rs"]
mod authz_cases;

use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};
use sqlx::Connection;
use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `autopmo-bench micro`.
#[derive(Debug, clap::Args)]
pub struct MicroArgs {
    /// Directory for the SQLite commit test's file (the disk AutoPMO uses).
    #[arg(long)]
    pub dir: PathBuf,
    /// A PostgreSQL database for the commit test; skipped when absent.
    #[arg(long)]
    pub pg_url: Option<String>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
}

/// What `micro` measured (printed as one JSON line).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MicroResult {
    /// argon2id hashes per second, one thread.
    pub argon2_per_s: f64,
    /// `m=…,t=…,p=…`.
    pub argon2_params: String,
    /// RS256 (2048-bit) signatures per second.
    pub rs256_sign_per_s: f64,
    /// RS256 verifications per second.
    pub rs256_verify_per_s: f64,
    /// The largest median decision time over the cases, µs.
    pub authz_worst_median_us: f64,
    /// "PM reads own project (20 members)": median µs.
    pub authz_read_median_us: f64,
    /// Single-row commits per second, one connection.
    pub sqlite_commits_per_s: f64,
    /// Rows per second when 50 rows share a commit.
    pub sqlite_rows_per_s_50: f64,
    /// `synchronous` used.
    pub sqlite_synchronous: String,
    /// Single-row commits per second, one client.
    pub pg_commits_per_s_1: Option<f64>,
    /// Single-row commits per second, 16 clients.
    pub pg_commits_per_s_16: Option<f64>,
}

/// An audit-row-sized payload.
const PAYLOAD: &str = concat!(
    "{\"method\":\"GET\",\"path\":\"/api/v1/projects/0190b6f0-0000-7000-8000-000000000001\",",
    "\"route\":\"/api/v1/projects/{project_id}\",\"http_status\":200,",
    "\"sealed\":\"v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",",
    "\"hash\":\"5f6d1c1b0e2a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5\"}"
);

/// Runs `autopmo-bench micro` and prints its result.
pub async fn run(args: MicroArgs) -> anyhow::Result<()> {
    let budget = Duration::from_secs_f64(args.seconds);
    let config = autopmo_config::Config::default();
    let mut result = MicroResult::default();
    let p = &config.passwords;
    result.argon2_params = format!("m={},t={},p={}", p.memory_kib, p.iterations, p.parallelism);
    result.argon2_per_s = argon2_rate(p.memory_kib, p.iterations, p.parallelism, budget)?;
    let (sign, verify) = rs256_rates(budget)?;
    result.rs256_sign_per_s = sign;
    result.rs256_verify_per_s = verify;
    let (worst, read) = authz_medians()?;
    result.authz_worst_median_us = worst;
    result.authz_read_median_us = read;
    let full = config.database.sqlite_synchronous == autopmo_config::SqliteSynchronous::Full;
    result.sqlite_synchronous = if full { "FULL" } else { "NORMAL" }.to_owned();
    let (commits, rows) = sqlite_rates(&args.dir, full, budget).await?;
    result.sqlite_commits_per_s = commits;
    result.sqlite_rows_per_s_50 = rows;
    if let Some(url) = &args.pg_url {
        result.pg_commits_per_s_1 = Some(pg_rate(url, 1, budget).await?);
        result.pg_commits_per_s_16 = Some(pg_rate(url, 16, budget).await?);
    }
    writeln!(std::io::stdout(), "{}", serde_json::to_string(&result)?)?;
    Ok(())
}

fn argon2_rate(memory_kib: u32, iterations: u32, parallelism: u32, budget: Duration) -> anyhow::Result<f64> {
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(memory_kib, iterations, parallelism, Some(32)).map_err(|e| anyhow!("argon2: {e}"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut out = [0u8; 32];
    let salt = *b"bench-salt-16-by";
    let mut n = 0u32;
    let start = Instant::now();
    while n < 5 || start.elapsed() < budget {
        argon2
            .hash_password_into(crate::seed::PASSWORD.as_bytes(), &salt, &mut out)
            .map_err(|e| anyhow!("argon2: {e}"))?;
        black_box(&out);
        n += 1;
    }
    Ok(f64::from(n) / start.elapsed().as_secs_f64())
}

fn rs256_rates(budget: Duration) -> anyhow::Result<(f64, f64)> {
    use autopmo_crypto::jws::{RsaBits, SigningKey, verify};
    let key = SigningKey::generate(RsaBits::Rsa2048).map_err(|e| anyhow!("{e}"))?;
    let public = key.public_key();
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:8080", "aud": "autopmo-api", "sub": "0190b6f0-0000-7000-8000-000000000001",
        "sid": "0190b6f0-0000-7000-8000-000000000002", "roles": ["project_manager"], "amr": ["pwd"],
        "auth_time": 1_796_000_000, "iat": 1_796_000_000, "exp": 1_796_000_900,
        "jti": "0190b6f0-0000-7000-8000-000000000003",
    });
    let mut token = String::new();
    let mut n = 0u32;
    let start = Instant::now();
    while n < 20 || start.elapsed() < budget {
        token = key.sign("at+jwt", &claims).map_err(|e| anyhow!("{e}"))?;
        n += 1;
    }
    let sign = f64::from(n) / start.elapsed().as_secs_f64();
    let keys = |kid: &str| (kid == public.kid()).then(|| public.clone());
    let mut m = 0u32;
    let start = Instant::now();
    while m < 100 || start.elapsed() < budget {
        black_box(verify(black_box(&token), "at+jwt", &keys).map_err(|e| anyhow!("{e}"))?);
        m += 1;
    }
    Ok((sign, f64::from(m) / start.elapsed().as_secs_f64()))
}

/// The cases of `cargo bench -p autopmo-authz` (the same file): the worst
/// median and the median of "PM reads own project", in µs.
fn authz_medians() -> anyhow::Result<(f64, f64)> {
    let cases = authz_cases::Cases::new().map_err(|e| anyhow!("{e}"))?;
    let mut medians = Vec::new();
    for case in cases.list() {
        let times = cases.time(&case, false).map_err(|e| anyhow!("{e}"))?;
        medians.push(authz_cases::percentile(&times, 0.5));
    }
    let worst = medians.iter().copied().fold(0.0, f64::max);
    Ok((worst, medians.first().copied().unwrap_or(0.0)))
}

/// Single-row commits per second, and rows per second at 50 rows per commit.
async fn sqlite_rates(dir: &std::path::Path, full: bool, budget: Duration) -> anyhow::Result<(f64, f64)> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("commit-rate.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::AnyConnection::connect(&url).await.context("opening the SQLite commit test file")?;
    // The pragmas AutoPMO's store sets on every connection.
    let sync = if full { "FULL" } else { "NORMAL" };
    for pragma in ["PRAGMA journal_mode = WAL".to_owned(), format!("PRAGMA synchronous = {sync}")] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(pragma)).execute(&mut conn).await?;
    }
    sqlx::raw_sql("CREATE TABLE rows (id INTEGER PRIMARY KEY, at TEXT NOT NULL, payload TEXT NOT NULL)")
        .execute(&mut conn)
        .await?;
    let insert = "INSERT INTO rows (at, payload) VALUES ($1, $2)";
    let mut n = 0u32;
    let start = Instant::now();
    while n < 20 || start.elapsed() < budget {
        sqlx::query(insert).bind(n.to_string()).bind(PAYLOAD).execute(&mut conn).await?;
        n += 1;
    }
    let commits = f64::from(n) / start.elapsed().as_secs_f64();
    let mut rows = 0u32;
    let start = Instant::now();
    while rows < 1_000 || start.elapsed() < budget {
        let mut tx = conn.begin().await?;
        for i in 0..50 {
            sqlx::query(insert).bind(i.to_string()).bind(PAYLOAD).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        rows += 50;
    }
    let batched = f64::from(rows) / start.elapsed().as_secs_f64();
    conn.close().await?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok((commits, batched))
}

/// Single-row commits per second over `clients` connections.
async fn pg_rate(url: &str, clients: usize, budget: Duration) -> anyhow::Result<f64> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.context("connecting to PostgreSQL for the commit test")?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_commits; \
         CREATE TABLE bench_commits (id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, payload TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    let mut workers = Vec::new();
    let start = Instant::now();
    for _ in 0..clients {
        let url = url.to_owned();
        workers.push(tokio::spawn(async move {
            let mut conn = sqlx::AnyConnection::connect(&url).await?;
            let mut n = 0u64;
            while n < 10 || start.elapsed() < budget {
                sqlx::query("INSERT INTO bench_commits (at, payload) VALUES ($1, $2)")
                    .bind(n.to_string())
                    .bind(PAYLOAD)
                    .execute(&mut conn)
                    .await?;
                n += 1;
            }
            conn.close().await?;
            Ok::<u64, sqlx::Error>(n)
        }));
    }
    let mut total = 0u64;
    for worker in workers {
        total += worker.await??;
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    sqlx::raw_sql("DROP TABLE bench_commits").execute(&mut conn).await?;
    conn.close().await?;
    Ok(rate)
}
