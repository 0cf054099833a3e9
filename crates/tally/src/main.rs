//! `tally`: serve, seed, loadgen, querybench and admin chores. With no subcommand it serves.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tally::config::{Config, Overrides};
use tally::{admin, app, demo, loadgen, querybench, seed};

/// Capture builds many small, short-lived maps and strings per event; mimalloc's
/// thread-local free lists serve them with less CPU than glibc's malloc (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tally", version, about = "Self-hosted product analytics")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Data directory (env TALLY_DATA_DIR; default ./tally-data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Port (env TALLY_PORT; default 8000).
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind (env TALLY_BIND; default 0.0.0.0).
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Project id that Tlytics clients (no key) write to (env TALLY_TLYTICS_PROJECT;
    /// default: Tlytics routes off).
    #[arg(long)]
    tlytics_project: Option<i64>,
    /// MaxMind-format GeoIP database, e.g. GeoLite2-City.mmdb, used instead of the
    /// embedded country database (env TALLY_GEOIP_DB).
    #[arg(long)]
    geoip_db: Option<PathBuf>,
    /// What this process does: all (default), or capture, worker, api combined
    /// with commas (env TALLY_ROLE; scale-out roles need --queue).
    #[arg(long, value_parser = tally::roles::Roles::parse)]
    role: Option<tally::roles::Roles>,
    /// kafka://host:9092[,host2:9092]/topic between capture and workers (env
    /// TALLY_QUEUE; default: the embedded spool). See docs/DEPLOY.md.
    #[arg(long)]
    queue: Option<String>,
    /// clickhouse://host:8123/database?user=… as the event store (env
    /// TALLY_STORE; default: DuckDB in the data dir). See docs/DEPLOY.md.
    #[arg(long)]
    store: Option<String>,
    /// TOML config file (env TALLY_CONFIG).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve capture, the query API and health endpoints.
    Serve(ServeArgs),
    /// Write a synthetic dataset straight into the data dir (server stopped).
    Seed(seed::SeedArgs),
    /// Send HTTP load to a running server and report throughput and latency.
    Loadgen(loadgen::LoadgenArgs),
    /// Time the analytics queries beside hand-written SQL on a seeded data dir (server stopped).
    Querybench(querybench::QueryBenchArgs),
    /// Account chores: `tally admin create-user --email E < password-file`.
    Admin(admin::AdminArgs),
    /// Serve a demo site that sends events to a running Tally (default :3000).
    Demo(demo::DemoArgs),
    /// Apply the schema migrations of the configured stores and exit (they also
    /// run at start-up): the event store (ClickHouse with --store, else DuckDB
    /// in the data dir) and the metadata store.
    Migrate(ServeArgs),
}

fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let env = std::env::vars().collect();
    let flags = Overrides {
        data_dir: args.data_dir.clone(),
        bind: args.bind,
        port: args.port,
        tlytics_project: args.tlytics_project,
        geoip_db: args.geoip_db.clone(),
        role: args.role,
        queue: args.queue.clone(),
        store: args.store.clone(),
    };
    Config::load(args.config.as_deref(), &env, &flags)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tally::allocator::keep_freed_memory();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TALLY_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    match Cli::parse()
        .command
        .unwrap_or(Command::Serve(ServeArgs::default()))
    {
        Command::Serve(args) => {
            let config = load_config(&args)?;
            let app = app::build(&config, Arc::new(tally_core::SystemClock)).await?;
            app.serve(shutdown_signal()).await
        }
        Command::Seed(args) => {
            let config = load_config(&ServeArgs {
                data_dir: args.data_dir.clone(),
                ..Default::default()
            })?;
            seed::run(&config, &args).await
        }
        Command::Loadgen(args) => loadgen::run(&args).await.context("loadgen"),
        Command::Querybench(args) => {
            let config = load_config(&ServeArgs {
                data_dir: args.data_dir.clone(),
                ..Default::default()
            })?;
            querybench::run(&config, &args).await
        }
        Command::Demo(args) => {
            let config = load_config(&ServeArgs {
                data_dir: args.data_dir.clone(),
                ..Default::default()
            })?;
            demo::run(&args, config.data_dir).await
        }
        Command::Migrate(args) => {
            let config = load_config(&args)?;
            println!("{}", app::migrate(&config).await?);
            Ok(())
        }
        Command::Admin(args) => {
            let admin::AdminCommand::CreateUser { data_dir, .. } = &args.command;
            let config = load_config(&ServeArgs {
                data_dir: data_dir.clone(),
                ..Default::default()
            })?;
            let out = admin::run(&config, &args.command, std::io::stdin().lock()).await?;
            println!("{out}");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
