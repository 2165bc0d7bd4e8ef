//! The `paygate` binary: `all` (the default) runs API, worker and acquirer simulator in one
//! process on the embedded defaults; the other commands run one part each.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use service::{Gateway, Settings, merchants};
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's malloc: the request and job paths allocate many small,
/// short-lived buffers, which glibc's allocator served at about a tenth of the CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "paygate", about = "A self-hosted payments gateway", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// API, worker and acquirer simulator in one process (SQLite and the embedded job store by default).
    All,
    /// The GraphQL API.
    Serve,
    /// The job worker: acquirer calls, pending-state resolution, the outbox dispatcher.
    Worker,
    /// The acquirer simulator.
    Simulator,
    /// Applies database migrations.
    Migrate,
    /// Prints the GraphQL schema (SDL).
    Schema,
    /// Merchant administration.
    Merchant {
        #[command(subcommand)]
        command: MerchantCommand,
    },
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Creates a merchant and prints its id and a new test and live secret key.
    Create {
        #[arg(long)]
        name: String,
        /// Print one JSON object {"merchantId","testKey","liveKey"}.
        #[arg(long)]
        json: bool,
    },
}

/// Prints a line for the operator; a closed stdout (a pipe whose reader went away) must not
/// bring the server down, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Cancelled on SIGTERM or Ctrl-C.
fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = ctrl_c => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = ctrl_c.await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutting down: finishing work in flight");
        t.cancel();
    });
    token
}

/// The simulator's knobs; it signs its notifications with the secret the gateway checks.
fn simulator_config(settings: &Settings) -> Result<simulator::SimulatorConfig, String> {
    let key = service::secrets::MasterKey::load(settings).map_err(|e| e.to_string())?;
    let secret = service::secrets::acquirer_notification_secret(settings, &key)
        .map_err(|e| e.to_string())?;
    Ok(simulator::SimulatorConfig {
        latency: settings.simulator_latency,
        error_rate: settings.simulator_error_rate,
        slow_delay: settings.simulator_slow,
        chargeback_delay: settings.simulator_chargeback_delay,
        notify: Some(simulator::Notify {
            url: settings.notify_url(),
            secret,
        }),
    })
}

async fn run(command: Command) -> Result<(), String> {
    let settings = Settings::from_env().map_err(|e| e.to_string())?;
    match command {
        Command::Schema => {
            print!("{}", api::graphql::sdl());
            Ok(())
        }
        Command::Migrate => {
            let db = service::db::connect(&settings)
                .await
                .map_err(|e| e.to_string())?;
            service::db::migrate(&db).await.map_err(|e| e.to_string())?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Merchant {
            command: MerchantCommand::Create { name, json },
        } => {
            let db = service::db::connect(&settings)
                .await
                .map_err(|e| e.to_string())?;
            let made = merchants::create_merchant(&db, &name)
                .await
                .map_err(|e| e.public_message())?;
            if json {
                let out = serde_json::json!({
                    "merchantId": made.merchant.id,
                    "testKey": made.test_key.expose(),
                    "liveKey": made.live_key.expose(),
                });
                println!("{out}");
            } else {
                println!("merchant id: {}", made.merchant.id);
                println!("test key:    {}", made.test_key.expose());
                println!("live key:    {}", made.live_key.expose());
                println!("(the keys are shown this once)");
            }
            Ok(())
        }
        Command::Simulator => {
            let shutdown = shutdown_token();
            let listener = tokio::net::TcpListener::bind(settings.simulator_addr)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(addr = %settings.simulator_addr, "acquirer simulator listening");
            let config = simulator_config(&settings)?;
            simulator::serve(listener, config, async move { shutdown.cancelled().await })
                .await
                .map_err(|e| e.to_string())
        }
        Command::Serve => {
            let shutdown = shutdown_token();
            let gw = Gateway::connect(settings.clone(), false)
                .await
                .map_err(|e| e.to_string())?;
            let app = api::Application::build(gw, settings.addr)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(addr = %settings.addr, "GraphQL API listening");
            app.run(shutdown).await.map_err(|e| e.to_string())
        }
        Command::Worker => {
            let shutdown = shutdown_token();
            let gw = Gateway::connect(settings, false)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!("worker started");
            worker::run(gw, shutdown).await
        }
        Command::All => run_all(settings).await,
    }
}

async fn run_all(mut settings: Settings) -> Result<(), String> {
    let shutdown = shutdown_token();
    let sim_listener = tokio::net::TcpListener::bind(settings.simulator_addr)
        .await
        .map_err(|e| {
            format!(
                "cannot listen for the simulator on {} ({e}); set PAYGATE_SIMULATOR_ADDR",
                settings.simulator_addr
            )
        })?;
    if std::env::var_os("PAYGATE_SIMULATOR_URL").is_none() {
        // The simulator may have been given port 0: point the worker at where it really is.
        let addr = sim_listener.local_addr().map_err(|e| e.to_string())?;
        settings.simulator_url = format!("http://{addr}");
    }
    let api_listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .map_err(|e| format!("cannot listen on {} ({e}); set PAYGATE_ADDR", settings.addr))?;
    if std::env::var_os("PAYGATE_PUBLIC_URL").is_none() {
        let addr = api_listener.local_addr().map_err(|e| e.to_string())?;
        settings.public_url = format!("http://{addr}");
    }
    // Started once the public URL is known: its chargeback notifications go there.
    let sim = {
        let config = simulator_config(&settings)?;
        let s = shutdown.clone();
        tokio::spawn(async move {
            simulator::serve(sim_listener, config, async move { s.cancelled().await }).await
        })
    };
    let gw = Gateway::connect(settings.clone(), true)
        .await
        .map_err(|e| e.to_string())?;
    if !merchants::any_merchant_exists(&gw.db)
        .await
        .map_err(|e| e.to_string())?
    {
        let made = merchants::create_merchant(&gw.db, "Demo merchant")
            .await
            .map_err(|e| e.to_string())?;
        say!("Created a demo merchant ({}).", made.merchant.id);
        say!("  demo test key: {}", made.test_key.expose());
        say!("  (shown this once; `paygate merchant create --name NAME` makes more)");
    }
    let app = api::Application::from_listener(gw.clone(), api_listener);
    let addr = app.local_addr().map_err(|e| e.to_string())?;
    say!("Paygate is running (embedded: SQLite, in-process queue and acquirer simulator).");
    say!("  GraphQL:  POST http://{addr}/graphql");
    say!("  GraphiQL: http://{addr}/graphql (in a browser)");
    let worker = tokio::spawn(worker::run(gw, shutdown.clone()));
    let served = app.run(shutdown.clone()).await.map_err(|e| e.to_string());
    shutdown.cancel();
    let worked = worker.await.map_err(|e| e.to_string())?;
    let _ = sim.await;
    served.and(worked)
}

fn main() -> ExitCode {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    // Without the LIFO slot, a task another task wakes waits its turn in the queue instead of
    // running next on the same thread ahead of every task already waiting. A charge crosses
    // many wakeups (the database, Redis, the bus), and under load the slot let newer work
    // jump older: in six alternated pairs of `bench/run` (charges at 64 clients), 5.6 % more
    // charges/s and a p99 8.6 % lower without it; pages of payments, no difference. The
    // option needs `--cfg tokio_unstable` (`.cargo/config.toml`).
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    match builder.build() {
        Ok(rt) => rt.block_on(main_async()),
        Err(e) => {
            eprintln!("error: runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn main_async() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    // Spawned, not run on the main thread: what `block_on` polls itself (the API's accept
    // loop, the worker's queue consumer) would run on that one extra thread beside the
    // runtime's workers, which the workers cannot help with.
    let command = cli.command.unwrap_or(Command::All);
    let outcome = match tokio::spawn(run(command)).await {
        Ok(ran) => ran,
        Err(panicked) => Err(panicked.to_string()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
