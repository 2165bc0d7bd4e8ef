//! A webhook receiver for the benchmark: a minimal HTTP/1.1 server (keep-alive) that answers
//! every POST with 200 at once and counts the deliveries, those carrying a Standard Webhooks
//! signature (`webhook-signature: v1,…`), and distinct `webhook-id`s. `GET /stats` answers the
//! counts and the delivery rate over the window from the first delivery to the last.
//! On start it prints `{"port": N}` on stdout.
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::load::round;

struct Counts {
    total: u64,
    signed: u64,
    ids: HashSet<String>,
    first: Option<Instant>,
    last: Option<Instant>,
    /// Deliveries per whole second since the first one.
    per_second: Vec<u64>,
}

type Shared = Arc<Mutex<Counts>>;

pub async fn run(addr: &str) -> Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("{}", json!({ "port": listener.local_addr()?.port() }));
    let counts: Shared = Arc::new(Mutex::new(Counts {
        total: 0,
        signed: 0,
        ids: HashSet::new(),
        first: None,
        last: None,
        per_second: vec![],
    }));
    loop {
        let (stream, _) = listener.accept().await?;
        let counts = counts.clone();
        tokio::spawn(async move {
            let _ = serve(stream, counts).await;
        });
    }
}

async fn serve(stream: TcpStream, counts: Shared) -> Result<()> {
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let request_line = line.trim_end().to_string();
        if request_line.is_empty() {
            continue;
        }
        let mut length = 0usize;
        let mut id = None;
        let mut signed = false;
        let mut close = false;
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.parse().unwrap_or(0),
                    "webhook-id" => id = Some(value.to_string()),
                    "webhook-signature" => signed = value.starts_with("v1,"),
                    "connection" => close = value.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length];
        r.read_exact(&mut body).await?;
        let answer = if request_line.starts_with("GET /stats") {
            let stats = stats(&counts).to_string();
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{stats}",
                stats.len()
            )
        } else {
            if request_line.starts_with("POST") {
                record(&counts, id, signed);
            }
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_string()
        };
        w.write_all(answer.as_bytes()).await?;
        if close {
            return Ok(());
        }
    }
}

fn record(counts: &Shared, id: Option<String>, signed: bool) {
    let now = Instant::now();
    let Ok(mut c) = counts.lock() else { return };
    c.total += 1;
    if signed {
        c.signed += 1;
    }
    if let Some(id) = id {
        c.ids.insert(id);
    }
    let first = *c.first.get_or_insert(now);
    c.last = Some(now);
    let second = now.duration_since(first).as_secs() as usize;
    if c.per_second.len() <= second {
        c.per_second.resize(second + 1, 0);
    }
    c.per_second[second] += 1;
}

fn stats(counts: &Shared) -> serde_json::Value {
    let Ok(c) = counts.lock() else {
        return json!({});
    };
    let window = match (c.first, c.last) {
        (Some(f), Some(l)) => l.duration_since(f).as_secs_f64(),
        _ => 0.0,
    };
    let idle = c.last.map(|l| l.elapsed().as_secs_f64()).unwrap_or(0.0);
    // The rate over the window, counting the first delivery as its start.
    let rate = if window > 0.0 {
        (c.total.saturating_sub(1)) as f64 / window
    } else {
        0.0
    };
    // Full seconds only: the last one is partial.
    let full = &c.per_second[..c.per_second.len().saturating_sub(1)];
    json!({
        "total": c.total,
        "signed": c.signed,
        "distinct_ids": c.ids.len(),
        "window_s": round(window, 3),
        "idle_s": round(idle, 3),
        "per_sec": round(rate, 1),
        "peak_1s": full.iter().copied().max().unwrap_or(0),
        "per_second": c.per_second,
    })
}
