//! `paygate-bench`: the load generator of Paygate's benchmark (see `bench/run`).
//!
//! - `load`: N tokio tasks call one scenario in a closed loop for a fixed time, then one JSON
//!   line: ops/s, p50/p95/p99 latency (ms), error count.
//! - `seed`: customers with a stored 4242 card, for the `charge` scenarios.
//! - `webhook-endpoint`: registers a webhook endpoint.
//! - `receiver`: a webhook receiver that answers 200 at once and counts deliveries.
//! - `free-port`: prints a free TCP port on 127.0.0.1.
//! - `report`: turns the run's JSON lines into `bench/results/<timestamp>.{json,md}`.
mod gql;
mod load;
mod receiver;
mod report;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// mimalloc, as `paygate` has: with glibc's malloc, allocation was a fifth of the load
/// generator's CPU, which it takes from the processes it measures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "paygate-bench", about = "Paygate's load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one scenario in a closed loop and prints one JSON line.
    Load(load::LoadArgs),
    /// Creates customers with a stored 4242 card; prints {"customers":[ids]}.
    Seed {
        /// The GraphQL URL, e.g. http://127.0.0.1:8080/graphql.
        #[arg(long)]
        url: String,
        #[arg(long)]
        key: String,
        #[arg(long, default_value_t = 16)]
        customers: usize,
    },
    /// Registers a webhook endpoint; prints {"endpointId","secret"}.
    WebhookEndpoint {
        #[arg(long)]
        url: String,
        #[arg(long)]
        key: String,
        /// Where the deliveries go.
        #[arg(long)]
        target: String,
    },
    /// A webhook receiver: answers 200 at once, counts deliveries; GET /stats tells them.
    Receiver {
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: String,
    },
    /// Prints a free TCP port on 127.0.0.1.
    FreePort,
    /// Writes the results JSON and Markdown from the run's JSON lines.
    Report {
        /// The JSON-lines file the run collected.
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        json: PathBuf,
        #[arg(long)]
        md: PathBuf,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Load(args) => {
            let out = load::run(args).await?;
            println!("{}", serde_json::to_string(&out)?);
        }
        Command::Seed {
            url,
            key,
            customers,
        } => {
            let mut client = gql::Client::connect(&url, &key).await?;
            let mut ids = Vec::with_capacity(customers);
            for i in 0..customers {
                ids.push(gql::seed_customer(&mut client, i).await?);
            }
            println!("{}", serde_json::json!({ "customers": ids }));
        }
        Command::WebhookEndpoint { url, key, target } => {
            let mut client = gql::Client::connect(&url, &key).await?;
            let (id, secret) = gql::create_webhook_endpoint(&mut client, &target).await?;
            println!(
                "{}",
                serde_json::json!({ "endpointId": id, "secret": secret })
            );
        }
        Command::Receiver { addr } => receiver::run(&addr).await?,
        Command::FreePort => {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            println!("{}", l.local_addr()?.port());
        }
        Command::Report { input, json, md } => report::write(&input, &json, &md)?,
    }
    Ok(())
}
