//! Opening the data directory and the database.

use anyhow::Context;
use autopmo_config::{Config, SqliteSynchronous};
use autopmo_domain::{Clock, SystemClock};
use autopmo_store::{Store, StoreOptions, migrate};
use std::time::Duration;

/// Creates the data directory (mode 0700) if missing, and makes sure an
/// existing one is not readable by others.
pub fn data_dir(config: &Config) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .with_context(|| format!("cannot read the data directory {}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot restrict the data directory {} to mode 0700", dir.display()))?;
        }
    }
    Ok(())
}

/// Connects to the configured database (creating the data directory for SQLite).
pub async fn connect(config: &Config) -> anyhow::Result<Store> {
    let url = config.effective_database_url();
    if !url.is_postgres() {
        data_dir(config)?;
    }
    let options = StoreOptions {
        url: url.expose().to_owned(),
        max_connections: config.database.max_connections,
        acquire_timeout: Duration::from_secs(config.database.acquire_timeout_secs),
        sqlite_busy_timeout: Duration::from_millis(config.database.sqlite_busy_timeout_ms),
        sqlite_synchronous_full: config.database.sqlite_synchronous == SqliteSynchronous::Full,
        session_cache: Duration::from_millis(config.database.session_cache_ms),
        project_cache: Duration::from_millis(config.database.project_cache_ms),
    };
    let store = Store::connect(&options).await.with_context(|| format!("database {}", url.redacted()))?;
    if !url.is_postgres() {
        restrict_sqlite_files(url.expose())?;
    }
    Ok(store)
}

/// The database file and its WAL hold every record: owner-only (0600).
fn restrict_sqlite_files(url: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or(path);
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{path}{suffix}");
            if std::path::Path::new(&file).exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot restrict {file} to mode 0600"))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = url;
    Ok(())
}

/// Connects and migrates, reporting what was applied.
pub async fn connect_and_migrate(config: &Config) -> anyhow::Result<Store> {
    let store = connect(config).await?;
    let report = migrate::migrate(&store, SystemClock.now()).await.context("migrating the database")?;
    if report.applied.is_empty() {
        tracing::info!(version = report.current, "database schema is current");
    } else {
        tracing::info!(applied = ?report.applied, version = report.current, "database schema migrated");
    }
    Ok(store)
}

/// Opens (creating on first use) the keyring in `<data_dir>/keys`.
pub fn keyring(config: &Config) -> anyhow::Result<std::sync::Arc<autopmo_crypto::Keyring>> {
    data_dir(config)?;
    let ring = autopmo_crypto::Keyring::open_or_create(&config.keys_dir())?;
    Ok(std::sync::Arc::new(ring))
}

/// The audit trail over `store`, with the keyring and the system clock.
pub fn trail(config: &Config, store: &Store) -> anyhow::Result<autopmo_trail::AuditTrail> {
    Ok(autopmo_trail::AuditTrail::new(store.clone(), keyring(config)?, std::sync::Arc::new(SystemClock)))
}

/// The archive target the configuration names.
pub fn archive_target(config: &Config) -> anyhow::Result<autopmo_trail::archive::ArchiveTarget> {
    use autopmo_trail::archive::{ArchiveTarget, S3Target};
    use secrecy::ExposeSecret;
    let archive = &config.audit.archive;
    // Events stay hot until every configured SIEM sink has them.
    let sinks: Vec<String> =
        if config.siem.enabled { config.siem.sinks.iter().map(|s| s.name.clone()).collect() } else { Vec::new() };
    let target = match (archive.target, &archive.s3) {
        (autopmo_config::ArchiveTargetKind::S3, Some(s3)) => ArchiveTarget::s3(&S3Target {
            bucket: s3.bucket.clone(),
            region: s3.region.clone(),
            endpoint: s3.endpoint.clone(),
            access_key_id: s3.access_key_id.clone(),
            secret_access_key: s3.secret_access_key.as_ref().map(|s| s.expose_secret().to_owned()),
            allow_http: s3.danger_allow_http,
            storage_class: s3.storage_class.clone(),
            prefix: s3.prefix.clone(),
        })?,
        _ => {
            data_dir(config)?;
            ArchiveTarget::local(&config.archive_dir())?
        }
    };
    Ok(target.holding_for(sinks))
}

/// The retention the configuration sets.
pub fn retention(config: &Config) -> autopmo_trail::archive::Retention {
    let r = &config.audit.retention;
    autopmo_trail::archive::Retention {
        authentication_days: r.authentication_days,
        authorization_days: r.authorization_days,
        data_access_days: r.data_access_days,
        administrative_days: r.administrative_days,
        system_days: r.system_days,
    }
}

/// The password hasher and policy the configuration sets; weaker-than-OWASP
/// hashing parameters or a policy below the floor are refused.
pub fn passwords(
    config: &Config,
) -> anyhow::Result<(autopmo_crypto::PasswordHasher, autopmo_identity::password_policy::PasswordPolicy)> {
    use autopmo_crypto::password::{Params, PoolLimits};
    let p = &config.passwords;
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism)
        .map_err(|e| anyhow::anyhow!("passwords.memory_kib / iterations / parallelism: {e}"))?;
    let hasher = autopmo_crypto::PasswordHasher::new(params, PoolLimits::default())
        .map_err(|e| anyhow::anyhow!("password hashing: {e}"))?;
    let policy = autopmo_identity::password_policy::PasswordPolicy {
        min_len: p.min_length,
        max_len: p.max_length,
        min_score: p.min_score,
        reject_common: p.reject_common,
    };
    policy.validate().map_err(|e| anyhow::anyhow!("passwords: {e}"))?;
    // The guide's floor (12–128 characters): a policy may be stricter, never laxer.
    if p.min_length < 12 || !(64..=1024).contains(&p.max_length) {
        anyhow::bail!("passwords.min_length must be at least 12 and passwords.max_length from 64 to 1024");
    }
    Ok((hasher, policy))
}

/// `autopmo migrate`.
pub async fn migrate_only(config: &Config) -> anyhow::Result<()> {
    let store = connect(config).await?;
    let report = migrate::migrate(&store, SystemClock.now()).await.context("migrating the database")?;
    if report.applied.is_empty() {
        eprintln!("database schema is current (version {})", report.current);
    } else {
        let list = report.applied.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        eprintln!("applied migrations {list}; database schema is now at version {}", report.current);
    }
    store.close().await;
    Ok(())
}
