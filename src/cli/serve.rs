//! `autopmo serve`.

use super::setup;
use anyhow::Context;
use autopmo_config::{Config, LogFormat};
use autopmo_domain::SystemClock;
use autopmo_http::{AppState, Limits};
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

pub async fn run(config: Config) -> anyhow::Result<()> {
    init_logging(&config)?;
    let store = setup::connect_and_migrate(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let limits = Limits {
        max_body_bytes: config.http.max_body_bytes,
        max_json_depth: config.http.max_json_depth,
        request_timeout: Duration::from_secs(config.http.request_timeout_secs),
    };
    let trail = setup::trail(&config, &store)?;
    bootstrap_admin(&trail, &config).await?;
    let (hasher, password_policy) = setup::passwords(&config)?;
    let mut login_policy = autopmo_auth::realm::login_policy(&store).await.context("the imported realm settings")?;
    login_policy.mfa = super::mfa_setup::requirement(&config)?;
    let state = AppState::with_passwords(
        trail.clone(),
        Arc::new(SystemClock),
        limits,
        &config.effective_public_url(),
        login_policy,
        hasher,
        password_policy,
    );
    let mfa = super::mfa_setup::service(&config, &trail, state.logins.clone())?;
    let state = state.with_mfa(mfa);
    state.load_keys().await.context("loading the token signing keys")?;
    let transport = autopmo_http::transport::Transport {
        ssl_required: match config.http.ssl_required {
            autopmo_config::SslRequired::External => autopmo_http::transport::SslRequired::External,
            autopmo_config::SslRequired::All => autopmo_http::transport::SslRequired::All,
            autopmo_config::SslRequired::DangerNone => autopmo_http::transport::SslRequired::DangerNone,
        },
        trusted_proxies: config
            .http
            .trusted_proxies
            .iter()
            .map(|p| p.parse().map_err(|e: String| anyhow::anyhow!("http.trusted_proxies: {e}")))
            .collect::<anyhow::Result<_>>()?,
    };
    let state = state.with_transport(transport);
    let state = match &config.smtp {
        Some(smtp) => state.with_mailer(Arc::new(mailer(&config, smtp).context("smtp")?)),
        None => {
            tracing::warn!("no [smtp] configured: password-reset requests are answered, but no mail is sent");
            state
        }
    };
    let federation = autopmo_auth::federation::Federation::new(
        trail.clone(),
        &config.effective_public_url(),
        config.oidc.issuers.iter().map(oidc_issuer).collect(),
    )
    .context("oidc.issuers")?;
    let state = state.with_federation(federation);
    let undeclared = autopmo_http::authorization_rule_problems();
    anyhow::ensure!(undeclared.is_empty(), "routes without a sound authorization rule: {}", undeclared.join("; "));
    // Policies that do not load stop the server: it never runs on a guess.
    let source = autopmo_http::PolicySource {
        policy_file: config.authorization.policy_file.clone(),
        matrix_file: config.authorization.matrix_file.clone(),
    };
    let authorizer = source.load().map_err(|e| anyhow::anyhow!("authorization policies do not load:\n{e}"))?;
    let approval = &config.authorization.budget_approval;
    let budget_rule = autopmo_http::BudgetRule::new(approval.enabled, &approval.threshold, &approval.currency)
        .map_err(|e| anyhow::anyhow!(e))?;
    let authz = autopmo_http::Authz::new(authorizer, source);
    let state = state.with_authz(authz.clone()).with_budget_rule(budget_rule);
    let reloader = tokio::spawn(reload_on_sighup(authz, trail.clone()));
    let archiver = if config.audit.archive.scheduled {
        let job = archive_every(
            trail.clone(),
            setup::archive_target(&config)?,
            setup::retention(&config),
            i64::from(config.audit.archive.batch),
            Duration::from_secs(config.audit.archive.interval_secs),
        );
        Some(tokio::spawn(job))
    } else {
        None
    };
    let siem = super::siem_cmd::Streams::start(&config, &trail)?;
    let key_rotation = tokio::spawn(rotate_keys_every(state.tokens.clone(), Duration::from_secs(3600)));
    let checkpoints =
        tokio::spawn(checkpoint_every(trail.clone(), Duration::from_secs(config.audit.checkpoint_interval_secs)));
    tracing::info!(%addr, backend = store.backend().name(), public_url = %config.effective_public_url(), "AutoPMO listening");
    eprintln!("AutoPMO listening on http://{addr} ({} database)", store.backend().name());
    autopmo_http::serve(listener, state, shutdown_signal()).await.context("serving HTTP")?;
    checkpoints.abort();
    key_rotation.abort();
    reloader.abort();
    siem.stop().await;
    if let Some(job) = archiver {
        job.abort();
    }
    // A last checkpoint, so that the tail written before shutdown is vouched for.
    if let Err(e) = autopmo_trail::checkpoint::take(&trail).await {
        tracing::warn!(error = %e, "final audit checkpoint failed");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// An `[[oidc.issuers]]` entry as the federation service takes it.
fn oidc_issuer(c: &autopmo_config::OidcIssuerConfig) -> autopmo_auth::federation::IssuerConfig {
    use autopmo_auth::federation::Provisioning;
    autopmo_auth::federation::IssuerConfig {
        name: c.name.clone(),
        issuer: c.issuer.clone(),
        client_id: c.client_id.clone(),
        client_secret: c.client_secret.clone(),
        scopes: c.scopes.clone(),
        audience: c.audience.clone(),
        role_claim: c.role_claim.clone(),
        role_map: c.role_map.clone(),
        provisioning: match c.provisioning {
            autopmo_config::OidcProvisioning::Create => Provisioning::Create,
            autopmo_config::OidcProvisioning::LinkVerifiedEmail => Provisioning::LinkVerifiedEmail,
            autopmo_config::OidcProvisioning::None => Provisioning::None,
        },
    }
}

/// The SMTP mailer of `[smtp]`; it greets the server with the public URL's host.
fn mailer(config: &Config, smtp: &autopmo_config::SmtpConfig) -> anyhow::Result<autopmo_auth::mail::SmtpMailer> {
    use autopmo_auth::mail::{SmtpSettings, SmtpTls};
    let public_url = config.effective_public_url();
    let host = public_url.split("://").nth(1).and_then(|rest| rest.split(['/', ':']).next()).filter(|h| !h.is_empty());
    let settings = SmtpSettings {
        host: smtp.host.clone(),
        port: smtp.effective_port(),
        from: smtp.from.clone(),
        username: smtp.username.clone(),
        password: smtp.password.clone(),
        tls: match smtp.tls {
            autopmo_config::SmtpTls::None => SmtpTls::None,
            autopmo_config::SmtpTls::Starttls => SmtpTls::StartTls,
            autopmo_config::SmtpTls::Tls => SmtpTls::Tls,
        },
        danger_allow_plain_auth: smtp.danger_allow_plain_auth,
        hello_name: host.map(str::to_owned),
        timeout: Duration::from_secs(smtp.timeout_secs),
    };
    Ok(autopmo_auth::mail::SmtpMailer::new(&settings)?)
}

/// On an empty database, creates the first administrator and prints its
/// one-time password once, to stderr.
async fn bootstrap_admin(trail: &autopmo_trail::AuditTrail, config: &Config) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let (hasher, policy) = setup::passwords(config)?;
    let accounts = autopmo_auth::accounts::Accounts::new(trail.clone(), hasher, policy);
    let system =
        autopmo_audit::Actor { user_id: None, subject: None, username: None, ip_address: None, user_agent: None };
    if let Some((user, password)) = accounts.bootstrap(&system).await.context("creating the first administrator")? {
        eprintln!(
            "\nAutoPMO created the first administrator.\n  username: {}\n  one-time password: {}\n\
             It must be changed at first login, and is not shown again.\n",
            user.username,
            password.expose_secret()
        );
    }
    Ok(())
}

/// Reloads the token keys every `interval`, which makes a new signing key
/// when rotation is due (and picks up one another replica made).
async fn rotate_keys_every(tokens: autopmo_auth::tokens::Tokens, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if let Err(e) = tokens.load().await {
            tracing::error!(error = %e, "token key rotation failed");
        }
    }
}

/// Signs a checkpoint of the audit chain head every `interval`.
async fn checkpoint_every(trail: autopmo_trail::AuditTrail, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match autopmo_trail::checkpoint::take(&trail).await {
            Ok(Some(c)) => tracing::info!(sequence = c.sequence, "audit checkpoint signed"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "audit checkpoint failed"),
        }
    }
}

/// Archives expired audit events every `interval` (first run after one interval).
async fn archive_every(
    trail: autopmo_trail::AuditTrail,
    target: autopmo_trail::archive::ArchiveTarget,
    retention: autopmo_trail::archive::Retention,
    batch: i64,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match autopmo_trail::archive::archive_all(&trail, &target, &retention, batch, |_| {}).await {
            Ok(segments) if !segments.is_empty() => {
                let events: i64 = segments.iter().map(|s| s.event_count).sum();
                tracing::info!(segments = segments.len(), events, "audit events archived");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "audit archival failed; nothing was deleted"),
        }
    }
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log.level)
        .with_context(|| format!("log.level {:?} is not a valid filter", config.log.level))?;
    // Colours only for a person at a terminal: a file, a pipe or journald
    // would keep the escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(autopmo_masking::MaskedStderr);
    let result = match config.log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

/// Reloads the matrix and policies on SIGHUP; a file that does not load
/// leaves the ones in force (both outcomes are audited).
async fn reload_on_sighup(authz: autopmo_http::Authz, trail: autopmo_trail::AuditTrail) {
    #[cfg(unix)]
    {
        use autopmo_domain::Clock;
        let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: policies reload only through the API");
            return;
        };
        while hangups.recv().await.is_some() {
            let event = autopmo_audit::AuditRecord::new(
                "authz.policies_reloaded",
                autopmo_audit::Category::Authorization,
                "reload",
                autopmo_audit::Outcome::Success,
                SystemClock.now(),
            );
            match authz.reload_audited(&trail, event, "SIGHUP").await {
                Ok(Ok(r)) => tracing::info!(old = %r.old_digest, new = %r.new_digest, "policies reloaded (SIGHUP)"),
                Ok(Err(e)) => tracing::error!(errors = %e, "policies not reloaded: the ones in force stay"),
                Err(e) => tracing::error!(error = %e, "policy reload not audited"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (authz, trail);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
