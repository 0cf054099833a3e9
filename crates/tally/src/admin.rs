//! `tally admin …`: account chores from the shell, on the configured metadata
//! store (SQLite in the data dir, in WAL mode so a running server is no
//! obstacle; or PostgreSQL with `metadata_url`).
//!
//! `tally admin create-user --email E` reads the password from stdin (never
//! from the command line, where `ps` would show it). The first such user — while
//! first-run setup is not done — claims the first start's superuser: they own
//! the `default` project and the admin token in `bootstrap.json` is their
//! personal key. Later users are plain accounts unless `--superuser`.

use crate::app;
use crate::config::Config;
use anyhow::{bail, Context};
use std::io::BufRead;
use tally_core::NewUser;

#[derive(clap::Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Make a user; the password is read from the first line of stdin.
    CreateUser {
        /// Data directory (env TALLY_DATA_DIR; default ./tally-data).
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Make a superuser (the first user always is one).
        #[arg(long)]
        superuser: bool,
    },
}

pub async fn run(
    config: &Config,
    command: &AdminCommand,
    stdin: impl BufRead,
) -> anyhow::Result<String> {
    let AdminCommand::CreateUser {
        email,
        name,
        superuser,
        ..
    } = command;
    let password = stdin
        .lines()
        .next()
        .context("reading the password from stdin")??;
    let email = email.trim().to_lowercase();
    if !email.contains('@') {
        bail!("`{email}` is not an email address");
    }
    if password.chars().count() < tally_server::MIN_PASSWORD {
        bail!(
            "the password needs at least {} characters",
            tally_server::MIN_PASSWORD
        );
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let meta = app::open_metadata(config).await?;
    app::bootstrap(meta.as_ref(), &config.data_dir).await?;
    let hash = tally_meta::hash_password(password).await?;
    let now = chrono::Utc::now();
    let user = if meta.setup_complete().await? {
        meta.create_user(
            NewUser {
                email: Some(email),
                name: name.clone(),
                password_hash: Some(hash),
                is_superuser: *superuser,
            },
            now,
        )
        .await?
    } else {
        meta.claim_first_user(&email, name, &hash, now).await?
    };
    Ok(serde_json::json!({
        "id": user.id,
        "email": user.email,
        "is_superuser": user.is_superuser,
    })
    .to_string())
}
