//! Data sets: seeded once per scale and kept under the work directory (a
//! SQLite file and its keyring; a PostgreSQL template database and its
//! keyring; the peer's SQLite file), then copied afresh for every run, so
//! that writes of one run never leak into the next.

use crate::scenarios::Ctx;
use crate::seed::{FORMAT, Manifest};
use anyhow::{Context, anyhow};
use sqlx::Connection;
use std::path::{Path, PathBuf};

/// A data set ready to serve.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// What is in it.
    pub manifest: Manifest,
    /// AutoPMO's data directory (keyring); unused by the peer.
    pub data_dir: PathBuf,
    /// The database: a `sqlite://` or `postgres://` URL for AutoPMO, a file path for the peer.
    pub url: String,
}

/// Where the cached seeds and the working copies live.
#[derive(Debug, Clone)]
pub struct Places {
    /// The work directory.
    pub work: PathBuf,
    /// The data scale.
    pub scale: f64,
    /// An account on PostgreSQL that may create databases.
    pub pg_admin: String,
    /// Seed again even if a cached seed exists.
    pub reseed: bool,
}

impl Places {
    fn tag(&self) -> String {
        format!("s{}-f{FORMAT}", (self.scale * 1000.0).round() as u64)
    }

    fn seed_dir(&self, what: &str) -> PathBuf {
        self.work.join("seed").join(format!("{what}-{}", self.tag()))
    }

    /// The URL of database `name` on the admin's server.
    pub fn pg_url(&self, name: &str) -> String {
        match self.pg_admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => format!("{}/{name}", self.pg_admin),
        }
    }

    fn pg_seed_db(&self) -> String {
        format!("autopmo_bench_seed_{}", self.tag().replace('-', "_"))
    }
}

fn read_manifest(path: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<Manifest>(&text).ok().filter(|m| m.format == FORMAT)
}

/// Copies a directory tree (permissions included).
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {} to {}", entry.path().display(), target.display()))?;
        }
    }
    Ok(())
}

fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Runs one statement on the admin database.
pub async fn pg_admin(places: &Places, sql: &str) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&places.pg_admin).await.context("connecting to PostgreSQL")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.with_context(|| sql.to_owned())?;
    conn.close().await?;
    Ok(())
}

/// The server version, or why PostgreSQL cannot be used.
pub async fn pg_version(places: &Places) -> anyhow::Result<String> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&places.pg_admin).await.context("connecting to PostgreSQL")?;
    let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&mut conn).await?;
    conn.close().await?;
    Ok(version)
}

async fn pg_database_exists(places: &Places, name: &str) -> anyhow::Result<bool> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&places.pg_admin).await?;
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1").bind(name).fetch_optional(&mut conn).await?;
    conn.close().await?;
    Ok(found.is_some())
}

/// AutoPMO's data set on `backend` (`sqlite` or `postgres`): seeded if not
/// cached, then copied to a working copy.
pub async fn autopmo(ctx: &Ctx, places: &Places, backend: &str, all_cores: Option<&str>) -> anyhow::Result<Dataset> {
    let seed_dir = places.seed_dir(backend);
    let manifest_path = seed_dir.join("manifest.json");
    let postgres = backend == "postgres";
    let seed_db = places.pg_seed_db();
    let mut cached = !places.reseed && read_manifest(&manifest_path).is_some();
    if cached && postgres {
        cached = pg_database_exists(places, &seed_db).await?;
    }
    if !cached {
        eprintln!("seeding AutoPMO on {backend} at scale {} (once; kept in {})", places.scale, seed_dir.display());
        fresh_dir(&seed_dir)?;
        let url = if postgres {
            pg_admin(places, &format!("DROP DATABASE IF EXISTS {seed_db} WITH (FORCE)")).await?;
            pg_admin(places, &format!("CREATE DATABASE {seed_db}")).await?;
            places.pg_url(&seed_db)
        } else {
            format!("sqlite://{}?mode=rwc", seed_dir.join("autopmo.db").display())
        };
        let status = crate::server::pinned(all_cores, &ctx.exe)
            .arg("seed")
            .arg("--url")
            .arg(&url)
            .arg("--data-dir")
            .arg(&seed_dir)
            .arg("--scale")
            .arg(places.scale.to_string())
            .arg("--manifest")
            .arg(&manifest_path)
            .status()
            .await?;
        if !status.success() {
            return Err(anyhow!("seeding {backend} failed ({status})"));
        }
    }
    let manifest =
        read_manifest(&manifest_path).ok_or_else(|| anyhow!("no seed manifest in {}", seed_dir.display()))?;
    let run_dir = places.work.join("run").join(backend);
    fresh_dir(&run_dir)?;
    copy_dir(&seed_dir, &run_dir)?;
    let url = if postgres {
        let run_db = "autopmo_bench_run";
        pg_admin(places, &format!("DROP DATABASE IF EXISTS {run_db} WITH (FORCE)")).await?;
        pg_admin(places, &format!("CREATE DATABASE {run_db} TEMPLATE {seed_db}")).await?;
        places.pg_url(run_db)
    } else {
        format!("sqlite://{}", run_dir.join("autopmo.db").display())
    };
    Ok(Dataset { manifest, data_dir: run_dir, url })
}

/// The peer's data set: `bench/peer/seed.py` once, then a working copy.
pub async fn peer(ctx: &Ctx, places: &Places) -> anyhow::Result<Dataset> {
    let python = ctx.python.as_ref().ok_or_else(|| anyhow!("no Python for the peer"))?;
    let seed_dir = places.seed_dir("peer");
    let manifest_path = seed_dir.join("manifest.json");
    if places.reseed || read_manifest(&manifest_path).is_none() {
        eprintln!("seeding the peer at scale {} (once; kept in {})", places.scale, seed_dir.display());
        fresh_dir(&seed_dir)?;
        let status = tokio::process::Command::new(python)
            .arg(ctx.peer_dir.join("seed.py"))
            .arg("--db")
            .arg(seed_dir.join("peer.db"))
            .arg("--scale")
            .arg(places.scale.to_string())
            .arg("--manifest")
            .arg(&manifest_path)
            .status()
            .await?;
        if !status.success() {
            return Err(anyhow!("seeding the peer failed ({status})"));
        }
    }
    let manifest = read_manifest(&manifest_path).ok_or_else(|| anyhow!("no peer manifest"))?;
    let run_dir = places.work.join("run").join("peer");
    fresh_dir(&run_dir)?;
    copy_dir(&seed_dir, &run_dir)?;
    Ok(Dataset { manifest, data_dir: run_dir.clone(), url: run_dir.join("peer.db").display().to_string() })
}

/// `autopmo audit verify` on a data set: its last line, and whether it passed.
pub async fn verify(ctx: &Ctx, data: &Dataset) -> anyhow::Result<(bool, String)> {
    let output = tokio::process::Command::new(&ctx.autopmo)
        .args(["audit", "verify"])
        .env("AUTOPMO_DATA_DIR", &data.data_dir)
        .env("AUTOPMO_DATABASE_URL", &data.url)
        .env("AUTOPMO_LOG__LEVEL", "warn")
        .output()
        .await?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
    Ok((output.status.success(), last))
}
