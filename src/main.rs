//! The `mcp-gateway` command: `serve` and `check`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use mcp_gateway::app;
use mcp_gateway::infra::config;

// mimalloc: glibc's malloc was 16 % of the data plane's user CPU (README, Benchmarks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mcp-gateway",
    version,
    about = "A gateway for Model Context Protocol servers"
)]
struct Cli {
    /// Log format on stderr (RUST_LOG sets the level).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Config file (default ./config.toml; built-in defaults when it does not exist).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen address, overriding server.listen (port 0 picks a free port).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Validate a config file and exit (0 valid, 2 invalid).
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { 2 } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.log_format);
    mcp_gateway::infra::http_client::install_crypto_provider();
    match cli.command {
        Command::Check { config } => match config::load(config.as_deref()) {
            Ok(loaded) => {
                let listen = loaded.config.server.listen;
                if let Err(message) = app::check_listen_rules(&loaded, listen) {
                    eprintln!("{}: {message}", loaded.origin);
                    return ExitCode::from(2);
                }
                println!(
                    "{}: valid ({} adapter(s), {} tool(s), runtime {}, auth {})",
                    loaded.origin,
                    loaded
                        .resources
                        .iter()
                        .filter(|(k, _)| *k == mcp_gateway::domain::model::ResourceKind::Adapter)
                        .count(),
                    loaded
                        .resources
                        .iter()
                        .filter(|(k, _)| *k == mcp_gateway::domain::model::ResourceKind::Tool)
                        .count(),
                    loaded.config.runtime.kind.as_str(),
                    loaded.config.auth.mode.as_str(),
                );
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("{err}");
                ExitCode::from(2)
            }
        },
        Command::Serve { config, listen } => {
            let loaded = match config::load(config.as_deref()) {
                Ok(loaded) => loaded,
                Err(err) => {
                    eprintln!("{err}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(loaded.config.server.serving_threads())
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("cannot start the async runtime: {err}");
                    return ExitCode::from(1);
                }
            };
            match runtime.block_on(app::serve(loaded, listen)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("mcp-gateway: {}", err.message);
                    ExitCode::from(err.code)
                }
            }
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // rmcp logs every JSON-RPC error reply (an unknown tool, a bad cursor) as a warning:
        // client mistakes, not ours, so only its errors show by default.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmcp=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
