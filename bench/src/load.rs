//! The closed-loop load generator: `concurrency` tasks, each sends one operation, waits for
//! its answer, checks it, and sends the next, until the time is up.
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use rand::Rng;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::gql::{Client, data_of, request_body, short};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
#[clap(rename_all = "snake_case")]
pub enum Scenario {
    /// createPayment: the API and database path alone (no acquirer call).
    CreatePayment,
    /// chargeCustomer AUTOMATIC with a stored 4242 card; must answer PAID.
    Charge,
    /// chargeCustomer MANUAL (HOLD), then capturePayment (PAID), then refundPayment (REFUNDED).
    ChargeCaptureRefund,
    /// payments(first: 20, filter: {status: [PAID]}); must answer PAID payments.
    ListPaid,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The GraphQL URL, e.g. http://127.0.0.1:8080/graphql.
    #[arg(long)]
    pub url: String,
    /// The API key (sk_test_…).
    #[arg(long)]
    pub key: String,
    #[arg(long, value_enum)]
    pub scenario: Scenario,
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// Stop after this many operations (all tasks together), even before the time is up.
    #[arg(long)]
    pub max_ops: Option<u64>,
    /// Customer ids with a stored card, comma-separated, used round-robin (charge scenarios).
    #[arg(long, value_delimiter = ',')]
    pub customers: Vec<String>,
    /// The least number of edges a list_paid page must have.
    #[arg(long, default_value_t = 1)]
    pub min_edges: usize,
    /// A label copied into the output (e.g. `list_paid@1M`).
    #[arg(long)]
    pub label: Option<String>,
    /// Also write every request to this file, one line each: when it started (µs since the
    /// run's start) and how long it took (µs), to see whether slow ones come together.
    #[arg(long)]
    pub trace: Option<std::path::PathBuf>,
}

#[derive(Serialize)]
pub struct LoadResult {
    pub kind: &'static str,
    pub label: String,
    pub scenario: Scenario,
    pub concurrency: usize,
    pub seconds: f64,
    /// Operations that succeeded.
    pub ops: u64,
    pub ops_per_sec: f64,
    pub errors: u64,
    /// Latency of every operation (successful or not), in milliseconds.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// CPU seconds the load generator itself used (it shares the machine).
    pub client_cpu_s: f64,
    /// Up to 5 distinct error messages.
    pub error_samples: Vec<String>,
}

const CREATE_PAYMENT: &str = "mutation($amount: Amount!) { createPayment(input: {amount: $amount, currency: \"EUR\"}) { payment { id status } errors { code message } } }";
const CHARGE: &str = "mutation($c: ID!, $amount: Amount!, $m: CaptureMethod!) { chargeCustomer(input: {customerId: $c, amount: $amount, currency: \"EUR\", captureMethod: $m}) { payment { id status } errors { code message } } }";
const CAPTURE: &str = "mutation($id: ID!) { capturePayment(input: {id: $id}) { payment { id status } errors { code message } } }";
const REFUND: &str = "mutation($id: ID!) { refundPayment(input: {id: $id}) { payment { id status } errors { code message } } }";
const LIST_PAID: &str =
    "{ payments(first: 20, filter: {status: [PAID]}) { edges { node { id status } } } }";

/// A page of the list scenario, read as far as it is checked (with no tree of JSON values:
/// the load generator shares the machine's CPU with what it measures).
#[derive(Deserialize)]
struct ListAnswer<'a> {
    #[serde(borrow)]
    data: Option<ListData<'a>>,
    errors: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ListData<'a> {
    #[serde(borrow)]
    payments: Connection<'a>,
}

#[derive(Deserialize)]
struct Connection<'a> {
    #[serde(borrow)]
    edges: Vec<Edge<'a>>,
}

#[derive(Deserialize)]
struct Edge<'a> {
    #[serde(borrow)]
    node: Node<'a>,
}

#[derive(Deserialize)]
struct Node<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
}

struct Shared {
    url: String,
    key: String,
    /// The list scenario's request, serialized once.
    list_body: Bytes,
    scenario: Scenario,
    customers: Vec<String>,
    next_customer: AtomicUsize,
    min_edges: usize,
    started_ops: AtomicU64,
    max_ops: u64,
}

fn expect(field: &str, got: &str, want: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{field}: status {got}, expected {want}"))
    }
}

impl Shared {
    fn customer(&self) -> &str {
        let i = self.next_customer.fetch_add(1, Ordering::Relaxed);
        &self.customers[i % self.customers.len()]
    }

    async fn op(&self, c: &mut Client) -> Result<(), String> {
        let amount: i64 = rand::rng().random_range(100..100_000);
        match self.scenario {
            Scenario::CreatePayment => {
                let (_, status) = c
                    .payment_mutation(CREATE_PAYMENT, "createPayment", json!({ "amount": amount }))
                    .await?;
                expect("createPayment", &status, "CREATED")
            }
            Scenario::Charge => {
                let (_, status) = c
                    .payment_mutation(
                        CHARGE,
                        "chargeCustomer",
                        json!({ "c": self.customer(), "amount": amount, "m": "AUTOMATIC" }),
                    )
                    .await?;
                expect("chargeCustomer", &status, "PAID")
            }
            Scenario::ChargeCaptureRefund => {
                let (id, status) = c
                    .payment_mutation(
                        CHARGE,
                        "chargeCustomer",
                        json!({ "c": self.customer(), "amount": amount, "m": "MANUAL" }),
                    )
                    .await?;
                expect("chargeCustomer MANUAL", &status, "HOLD")?;
                let (_, status) = c
                    .payment_mutation(CAPTURE, "capturePayment", json!({ "id": id }))
                    .await?;
                expect("capturePayment", &status, "PAID")?;
                let (_, status) = c
                    .payment_mutation(REFUND, "refundPayment", json!({ "id": id }))
                    .await?;
                expect("refundPayment", &status, "REFUNDED")
            }
            Scenario::ListPaid => {
                let body = c.post(self.list_body.clone()).await?;
                let edges = match serde_json::from_slice::<ListAnswer>(&body) {
                    Ok(ListAnswer {
                        data: Some(data),
                        errors: None,
                    }) => data.payments.edges,
                    _ => {
                        let data = data_of(&body)?;
                        return Err(format!("payments: no edges in {}", short(&data)));
                    }
                };
                if edges.len() < self.min_edges {
                    return Err(format!(
                        "payments: {} edges, expected at least {}",
                        edges.len(),
                        self.min_edges
                    ));
                }
                match edges.iter().find(|e| e.node.status != "PAID") {
                    Some(e) => Err(format!(
                        "payments: {} is {}, not PAID",
                        e.node.id, e.node.status
                    )),
                    None => Ok(()),
                }
            }
        }
    }
}

#[derive(Default)]
struct TaskStats {
    latencies_us: Vec<u64>,
    /// When each request started, µs since the run's start (same order as `latencies_us`).
    starts_us: Vec<u64>,
    ok: u64,
    errors: u64,
    samples: Vec<String>,
}

pub async fn run(args: LoadArgs) -> Result<LoadResult> {
    let needs_customers = matches!(
        args.scenario,
        Scenario::Charge | Scenario::ChargeCaptureRefund
    );
    if needs_customers && args.customers.is_empty() {
        bail!("the {:?} scenario needs --customers", args.scenario);
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let shared = Arc::new(Shared {
        url: args.url.clone(),
        key: args.key.clone(),
        list_body: request_body(LIST_PAID, &json!({})),
        scenario: args.scenario,
        customers: args.customers.clone(),
        next_customer: AtomicUsize::new(0),
        min_edges: args.min_edges,
        started_ops: AtomicU64::new(0),
        max_ops: args.max_ops.unwrap_or(u64::MAX),
    });
    let started = Instant::now();
    let started_unix_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = TaskStats::default();
            // Each client its own connection, as `concurrency` separate callers would have.
            let mut client = match Client::connect(&shared.url, &shared.key).await {
                Ok(c) => c,
                Err(e) => {
                    stats.errors += 1;
                    stats.samples.push(format!("{e:#}"));
                    return stats;
                }
            };
            while Instant::now() < deadline
                && shared.started_ops.fetch_add(1, Ordering::Relaxed) < shared.max_ops
            {
                let t = Instant::now();
                let result = shared.op(&mut client).await;
                stats.latencies_us.push(t.elapsed().as_micros() as u64);
                stats
                    .starts_us
                    .push(t.duration_since(started).as_micros() as u64);
                match result {
                    Ok(()) => stats.ok += 1,
                    Err(e) => {
                        stats.errors += 1;
                        if stats.samples.len() < 5 && !stats.samples.contains(&e) {
                            stats.samples.push(e);
                        }
                    }
                }
            }
            stats
        }));
    }
    let mut all = TaskStats::default();
    for t in tasks {
        let s = t.await?;
        all.latencies_us.extend(s.latencies_us);
        all.starts_us.extend(s.starts_us);
        all.ok += s.ok;
        all.errors += s.errors;
        for e in s.samples {
            if all.samples.len() < 5 && !all.samples.contains(&e) {
                all.samples.push(e);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(path) = &args.trace {
        write_trace(path, started_unix_us, &all.starts_us, &all.latencies_us)?;
    }
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.latencies_us.is_empty() {
            return 0.0;
        }
        // Nearest rank.
        let rank = ((p / 100.0) * all.latencies_us.len() as f64).ceil() as usize;
        all.latencies_us[rank.clamp(1, all.latencies_us.len()) - 1] as f64 / 1000.0
    };
    let mean = if all.latencies_us.is_empty() {
        0.0
    } else {
        all.latencies_us.iter().sum::<u64>() as f64 / all.latencies_us.len() as f64 / 1000.0
    };
    Ok(LoadResult {
        kind: "load",
        label: args.label.unwrap_or_else(|| {
            serde_json::to_value(args.scenario).map_or_else(
                |_| String::new(),
                |v| v.as_str().unwrap_or_default().to_string(),
            )
        }),
        scenario: args.scenario,
        concurrency: args.concurrency,
        seconds: round(elapsed, 3),
        ops: all.ok,
        ops_per_sec: round(all.ok as f64 / elapsed, 1),
        errors: all.errors,
        p50_ms: round(pct(50.0), 2),
        p95_ms: round(pct(95.0), 2),
        p99_ms: round(pct(99.0), 2),
        max_ms: round(pct(100.0), 2),
        mean_ms: round(mean, 2),
        client_cpu_s: round(own_cpu_seconds(), 2),
        error_samples: all.samples,
    })
}

/// A first line `# started <unix µs>` (to line the run up with other logs), then one line
/// per request, in the order they started: `<start µs>\t<latency µs>`.
fn write_trace(
    path: &std::path::Path,
    started_unix_us: u128,
    starts: &[u64],
    latencies: &[u64],
) -> Result<()> {
    let mut lines: Vec<(u64, u64)> = starts
        .iter()
        .copied()
        .zip(latencies.iter().copied())
        .collect();
    lines.sort_unstable();
    let mut out = String::with_capacity(lines.len() * 16);
    out.push_str(&format!("# started {started_unix_us}\n"));
    for (start, latency) in lines {
        out.push_str(&format!("{start}\t{latency}\n"));
    }
    std::fs::write(path, out)?;
    Ok(())
}

pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// User + system CPU seconds of this process (Linux; 0 elsewhere). Assumes 100 clock ticks
/// a second, the Linux default.
fn own_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: indexes 11 and 12 after the name.
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}
