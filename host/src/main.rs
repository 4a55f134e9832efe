//! `walker-host`: serves the walkers of `walkers/` over jac-cloud's protocol.

use tracing_subscriber::EnvFilter;
use walker_host::config::{Command, Config};
use walker_host::protocol::user_fields;
use walker_host::server::Server;
use walker_host::store::{self, portable};
use walker_host::tenancy;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        // Standard output is for data (`export`, `--print-config`).
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = Config::load()?;
    if config.print_config {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(());
    }
    if let Some(command) = &config.command {
        return move_data(command, &config).await;
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let server = Server::new(config).await?;
    server.serve(listener, shutdown_signal()).await
}

/// `export` or `import`, on the store the flags (and `--tenant`) select.
async fn move_data(command: &Command, config: &Config) -> anyhow::Result<()> {
    let (Command::Export { tenant } | Command::Import { tenant, .. }) = command;
    let (data_dir, schema) = tenancy::data_location(config, tenant.as_deref().unwrap_or(tenancy::DEFAULT_TENANT))?;
    let mut store_config = config.store();
    store_config.data_dir = &data_dir;
    store_config.schema = schema.as_deref();
    let store = store::open(&store_config).await?;
    match command {
        Command::Export { .. } => {
            let rows = portable::export_to(&*store, std::io::BufWriter::new(std::io::stdout())).await?;
            tracing::info!(rows, "exported");
        }
        Command::Import { from_jac_cloud: None, .. } => {
            let rows = portable::import_from(&*store, std::io::stdin().lock()).await?;
            tracing::info!(rows, "imported");
        }
        Command::Import { from_jac_cloud: Some(dir), .. } => {
            let settings = config.settings();
            let user_fields = |values: serde_json::Map<_, _>| {
                user_fields::read_imported(&settings.user_fields, &values, settings.user_fields_bytes)
            };
            let rows = portable::import_rows(&*store, store::jac_cloud::read_export(dir, &user_fields)?).await?;
            tracing::info!(rows, "imported from jac-cloud");
        }
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
