//! `autopmo policy`: show the effective permission matrix and policies;
//! check a policy or matrix file before deploying it.

use autopmo_config::Config;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the effective permission matrix (as a table) and the policies.
    Show,
    /// Check a YAML policy file (or, with --matrix, a TOML matrix file):
    /// every error with its line and column; exit status 1 if any.
    Check {
        /// The file to check.
        file: PathBuf,
        /// The file is a permission matrix (TOML), not policies.
        #[arg(long)]
        matrix: bool,
    },
}

pub fn run(cmd: PolicyCommand, config: &Config) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Show => show(config),
        PolicyCommand::Check { file, matrix } => check(&file, matrix),
    }
}

fn source(config: &Config) -> autopmo_http::PolicySource {
    autopmo_http::PolicySource {
        policy_file: config.authorization.policy_file.clone(),
        matrix_file: config.authorization.matrix_file.clone(),
    }
}

fn show(config: &Config) -> anyhow::Result<()> {
    let authorizer = source(config).load().map_err(|e| anyhow::anyhow!("the policies in force do not load:\n{e}"))?;
    let from = |f: &Option<PathBuf>| f.as_ref().map_or_else(|| "built in".to_owned(), |p| p.display().to_string());
    let mut out = String::new();
    out.push_str(&format!("Permission matrix ({})\n\n", from(&config.authorization.matrix_file)));
    out.push_str(&authorizer.matrix().table());
    out.push_str(&format!("\nPolicies ({})\n\n", from(&config.authorization.policy_file)));
    for p in authorizer.policies().summaries() {
        out.push_str(&format!(
            "{} ({}): {}\n  roles: {}; types: {}; actions: {}\n",
            p.name,
            p.effect.as_str(),
            p.description,
            p.roles.join(", "),
            p.types.join(", "),
            p.actions.join(", ")
        ));
        for c in &p.conditions {
            out.push_str(&format!("  when: {c}\n"));
        }
    }
    out.push_str(&format!("\ndigest: {}\n", authorizer.digest()));
    print(&out)
}

fn check(file: &std::path::Path, matrix: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", file.display()))?;
    let name = file.display().to_string();
    if matrix {
        let m = autopmo_authz::Matrix::from_toml(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        print(&format!("{name}: ok, {} permissions\n", m.permissions().len()))?;
    } else {
        let set = autopmo_authz::PolicySet::parse(&name, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
        print(&format!("{name}: ok, {} policies\n", set.summaries().len()))?;
    }
    Ok(())
}

fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}
