//! Builds the results JSON and Markdown from the JSON lines `bench/run` collected. Each line
//! has a `kind`: `meta`, `load`, `pgbench`, `rss`, `webhook`, `seed`, `backlog`, `explain`,
//! `note`.
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use crate::load::round;

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(0.0)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// The box's steal share during a run, as `bench/run` records it; "—" in results from before
/// it did.
fn steal(run: &Value) -> String {
    run["box_steal_pct"]
        .as_f64()
        .map_or_else(|| "—".into(), |pct| format!("{pct:.0} %"))
}

/// A run with at least this share of steal ran on a noticeably slower machine.
const MUCH_STEAL_PCT: f64 = 5.0;

/// Names the runs (scenarios and pgbench's) during which the hypervisor took
/// [`MUCH_STEAL_PCT`] or more of the box's CPU time, if any: their figures, and the targets
/// read off them, are of a slower machine than the rest.
fn steal_warning(out: &Value) -> Option<String> {
    let loads = out["load"].as_array().into_iter().flatten();
    let pgbench = out["pgbench"].as_array().into_iter().flatten();
    let webhook = out["webhook"].is_object().then_some(&out["webhook"]);
    let stolen: Vec<String> = loads
        .map(|l| (format!("{} @{}", s(l, "label"), l["concurrency"]), l))
        .chain(pgbench.map(|p| (format!("pgbench @{}", p["concurrency"]), p)))
        .chain(webhook.map(|w| ("the webhook deliveries".to_string(), w)))
        .filter(|(_, run)| f(run, "box_steal_pct") >= MUCH_STEAL_PCT)
        .map(|(name, run)| format!("{name} ({})", steal(run)))
        .collect();
    (!stolen.is_empty()).then(|| {
        format!(
            "**The hypervisor took {MUCH_STEAL_PCT:.0} % or more of the box's CPU time during {}:** \
             those runs had a slower machine than the others.",
            stolen.join(", ")
        )
    })
}

fn mb(kb: f64) -> f64 {
    round(kb / 1024.0, 1)
}

struct Target {
    name: String,
    figure: String,
    met: bool,
}

pub fn write(input: &Path, json_out: &Path, md_out: &Path) -> Result<()> {
    let text = std::fs::read_to_string(input).with_context(|| format!("{}", input.display()))?;
    let mut meta = Map::new();
    let mut groups: Map<String, Value> = Map::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: {line}", input.display(), n + 1))?;
        let kind = s(&v, "kind").to_string();
        if kind == "meta" {
            if let Value::Object(m) = v {
                meta.extend(m.into_iter().filter(|(k, _)| k != "kind"));
            }
            continue;
        }
        let list = groups.entry(kind).or_insert_with(|| json!([]));
        if let Value::Array(a) = list {
            a.push(v);
        }
    }
    let empty = vec![];
    let list = |kind: &str| -> &Vec<Value> {
        groups
            .get(kind)
            .and_then(|v| v.as_array())
            .unwrap_or(&empty)
    };
    let loads = list("load");
    let pgbench = list("pgbench");
    let tps_at = |c: u64| -> Option<f64> {
        pgbench
            .iter()
            .find(|p| p["concurrency"].as_u64() == Some(c))
            .map(|p| f(p, "tps"))
            .filter(|t| *t > 0.0)
    };
    let load_at = |label: &str, c: u64| -> Option<&Value> {
        loads
            .iter()
            .find(|l| s(l, "label") == label && l["concurrency"].as_u64() == Some(c))
    };

    // Our writes per second as a share of the pgbench reference at the same concurrency.
    let mut ratios = vec![];
    for l in loads {
        let scenario = s(l, "scenario");
        if scenario == "list_paid" {
            continue;
        }
        let c = l["concurrency"].as_u64().unwrap_or(0);
        if let Some(tps) = tps_at(c) {
            ratios.push(json!({
                "label": s(l, "label"),
                "concurrency": c,
                "ops_per_sec": f(l, "ops_per_sec"),
                "pgbench_tps": tps,
                "ratio": round(f(l, "ops_per_sec") / tps, 3),
            }));
        }
    }
    let ratio_of = |label: &str, c: u64| -> Option<f64> {
        ratios
            .iter()
            .find(|r| s(r, "label") == label && r["concurrency"].as_u64() == Some(c))
            .map(|r| f(r, "ratio"))
    };

    let mut targets = vec![];
    // 1. createPayment at 64 clients: at least 50 % of pgbench's tps.
    match (
        ratio_of("create_payment", 64),
        load_at("create_payment", 64),
    ) {
        (Some(r), Some(l)) => targets.push(Target {
            name: "createPayment @64: ≥ 50 % of the pgbench reference's tps".into(),
            figure: format!(
                "{:.0} ops/s = {:.0} % of {:.0} tps",
                f(l, "ops_per_sec"),
                r * 100.0,
                tps_at(64).unwrap_or(0.0)
            ),
            met: r >= 0.5,
        }),
        _ => targets.push(Target {
            name: "createPayment @64: ≥ 50 % of the pgbench reference's tps".into(),
            figure: "not measured".into(),
            met: false,
        }),
    }
    // 2. charge at 64 clients: ≥ 500/s, p99 < 100 ms, zero errors.
    if let Some(l) = load_at("charge", 64) {
        let (ops, p99, errors) = (f(l, "ops_per_sec"), f(l, "p99_ms"), f(l, "errors"));
        targets.push(Target {
            name: "chargeCustomer @64: ≥ 500 charges/s".into(),
            figure: format!("{ops:.0} charges/s"),
            met: ops >= 500.0,
        });
        targets.push(Target {
            name: "chargeCustomer @64: p99 < 100 ms".into(),
            figure: format!("p99 {p99:.1} ms"),
            met: p99 < 100.0,
        });
        targets.push(Target {
            name: "chargeCustomer @64: zero errors".into(),
            figure: format!("{errors:.0} errors"),
            met: errors == 0.0,
        });
    }
    // 4. the list query: p99 < 10 ms on 1M payments, within 2× of 10k.
    let mut list_rows = vec![];
    for c in [1u64, 16, 64] {
        if let (Some(big), Some(small)) = (load_at("list_paid@1M", c), load_at("list_paid@10k", c))
        {
            let p99_ratio = f(big, "p99_ms") / f(small, "p99_ms").max(0.001);
            let p50_ratio = f(big, "p50_ms") / f(small, "p50_ms").max(0.001);
            list_rows.push(json!({
                "concurrency": c,
                "p50_ms_1m": f(big, "p50_ms"), "p99_ms_1m": f(big, "p99_ms"),
                "p50_ms_10k": f(small, "p50_ms"), "p99_ms_10k": f(small, "p99_ms"),
                "ops_per_sec_1m": f(big, "ops_per_sec"), "ops_per_sec_10k": f(small, "ops_per_sec"),
                "p50_ratio": round(p50_ratio, 2), "p99_ratio": round(p99_ratio, 2),
            }));
            targets.push(Target {
                name: format!("payments(PAID) @{c} on 1M payments: p99 < 10 ms"),
                figure: format!("p99 {:.1} ms", f(big, "p99_ms")),
                met: f(big, "p99_ms") < 10.0,
            });
            targets.push(Target {
                name: format!("payments(PAID) @{c}: 1M within 2× of 10k (p99)"),
                figure: format!(
                    "{:.1} ms vs {:.1} ms = {p99_ratio:.1}×",
                    f(big, "p99_ms"),
                    f(small, "p99_ms")
                ),
                met: p99_ratio <= 2.0,
            });
        }
    }
    // 5. webhook deliveries per second.
    let webhook = list("webhook").last().cloned();
    match &webhook {
        Some(w) => targets.push(Target {
            name: "webhook deliveries: ≥ 1,000/s".into(),
            figure: format!(
                "{:.0}/s ({} delivered in {:.1} s; steal {})",
                f(w, "per_sec"),
                w["total"],
                f(w, "window_s"),
                steal(w)
            ),
            met: f(w, "per_sec") >= 1000.0,
        }),
        None => targets.push(Target {
            name: "webhook deliveries: ≥ 1,000/s".into(),
            figure: "not measured".into(),
            met: false,
        }),
    }
    // Peak RSS of `paygate serve`.
    let rss = list("rss");
    let peak = |proc_key: &str| -> f64 { rss.iter().map(|r| f(r, proc_key)).fold(0.0, f64::max) };
    let serve_peak = peak("serve_kb");
    targets.push(Target {
        name: "peak RSS of `paygate serve` < 150 MB".into(),
        figure: format!("{} MB", mb(serve_peak)),
        met: serve_peak > 0.0 && serve_peak < 150.0 * 1024.0,
    });

    let targets_json: Vec<Value> = targets
        .iter()
        .map(|t| json!({ "target": t.name, "figure": t.figure, "met": t.met }))
        .collect();
    let out = json!({
        "meta": meta,
        "load": loads,
        "pgbench": pgbench,
        "ratios": ratios,
        "list_paid": list_rows,
        "webhook": webhook,
        "rss": rss,
        "peak_rss_mb": {
            "serve": mb(serve_peak),
            "worker": mb(peak("worker_kb")),
            "simulator": mb(peak("simulator_kb")),
        },
        "seed": list("seed"),
        "backlog": list("backlog"),
        "explain": list("explain"),
        "notes": list("note"),
        "targets": targets_json,
    });
    std::fs::write(json_out, serde_json::to_string_pretty(&out)? + "\n")?;
    std::fs::write(md_out, markdown(&out, &targets))?;
    Ok(())
}

fn markdown(out: &Value, targets: &[Target]) -> String {
    let mut md = String::new();
    let meta = &out["meta"];
    let _ = writeln!(md, "# Paygate benchmark — {}\n", s(meta, "started_at"));
    let _ = writeln!(
        md,
        "`paygate` release binary `{}` built {} (from the working tree of that time), run at commit `{}`{}; {} s per run, concurrencies {}; {} CPU cores, {}; PostgreSQL {} over {} (pgbench too), paygate defaults \
         (`PAYGATE_DATABASE_POOL`={}, `PAYGATE_WORKER_CONCURRENCY`={}). Everything on one box, \
         so ratios in one run are what to compare, not absolute figures.\n",
        match s(meta, "binary") {
            "" => "target/release/paygate",
            binary => binary,
        },
        s(meta, "binary_built"),
        s(meta, "commit"),
        if meta["dirty"].as_bool() == Some(true) {
            " (the working tree had uncommitted changes)"
        } else {
            ""
        },
        meta["seconds"],
        s(meta, "concurrencies"),
        meta["cpus"],
        s(meta, "cpu_model"),
        s(meta, "postgres"),
        s(meta, "postgres_via"),
        s(meta, "database_pool"),
        s(meta, "worker_concurrency"),
    );

    let _ = writeln!(md, "## Targets (issue 6)\n");
    if let Some(warning) = steal_warning(out) {
        let _ = writeln!(md, "{warning}\n");
    }
    let _ = writeln!(md, "| target | figure | met |\n| --- | --- | --- |");
    for t in targets {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            t.name,
            t.figure,
            if t.met { "yes" } else { "**no**" }
        );
    }

    let _ = writeln!(md, "\n## Scenarios\n");
    let _ = writeln!(
        md,
        "Closed loop: each client sends the next request when the last one is answered. \
         Latency in ms; `vs pgbench` is ops/s divided by the pgbench reference's tps at the same \
         concurrency. `steal` is the share of the box's CPU time the hypervisor gave to others \
         during the run: a run with much of it ran on a slower machine.\n"
    );
    let _ = writeln!(
        md,
        "| scenario | clients | ops/s | p50 | p95 | p99 | max | errors | vs pgbench | steal |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let ratios = out["ratios"].as_array().cloned().unwrap_or_default();
    for l in out["load"].as_array().into_iter().flatten() {
        let ratio = ratios
            .iter()
            .find(|r| s(r, "label") == s(l, "label") && r["concurrency"] == l["concurrency"])
            .map(|r| format!("{:.2}", f(r, "ratio")))
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            s(l, "label"),
            l["concurrency"],
            f(l, "ops_per_sec"),
            f(l, "p50_ms"),
            f(l, "p95_ms"),
            f(l, "p99_ms"),
            f(l, "max_ms"),
            l["errors"],
            ratio,
            steal(l)
        );
    }
    let samples: Vec<String> = out["load"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["errors"].as_u64().unwrap_or(0) > 0)
        .map(|l| {
            format!(
                "- {} @{}: {}",
                s(l, "label"),
                l["concurrency"],
                l["error_samples"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str())
                    .map(|e| format!("`{}`", e.replace('`', "'")))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })
        .collect();
    if !samples.is_empty() {
        let _ = writeln!(md, "\nError samples:\n\n{}", samples.join("\n"));
    }

    let _ = writeln!(
        md,
        "\n## pgbench reference\n\nOne transaction with the writes of a charge: insert payment, \
         operation, status history, event, its outbox row and the job, then update the payment (`bench/pgbench-charge.sql`, \
         prepared statements, on the same tables and indexes).\n"
    );
    let _ = writeln!(
        md,
        "| clients | tps | avg latency ms | steal |\n| ---: | ---: | ---: | ---: |"
    );
    for p in out["pgbench"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {} | {:.1} | {:.2} | {} |",
            p["concurrency"],
            f(p, "tps"),
            f(p, "latency_ms"),
            steal(p)
        );
    }

    if let Some(rows) = out["list_paid"].as_array().filter(|r| !r.is_empty()) {
        let _ = writeln!(
            md,
            "\n## payments(first: 20, filter: {{status: [PAID]}}): 1,000,000 vs 10,000 payments\n"
        );
        let _ = writeln!(
            md,
            "| clients | p50 1M | p50 10k | p99 1M | p99 10k | p99 ratio | ops/s 1M | ops/s 10k |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for r in rows {
            let _ = writeln!(
                md,
                "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1}× | {:.1} | {:.1} |",
                r["concurrency"],
                f(r, "p50_ms_1m"),
                f(r, "p50_ms_10k"),
                f(r, "p99_ms_1m"),
                f(r, "p99_ms_10k"),
                f(r, "p99_ratio"),
                f(r, "ops_per_sec_1m"),
                f(r, "ops_per_sec_10k"),
            );
        }
    }
    for sd in out["seed"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "\nSeeded {} payments ({}) in {:.1} s.",
            sd["rows"],
            s(sd, "what"),
            f(sd, "seconds")
        );
    }

    if let Some(w) = out["webhook"].as_object() {
        let w = Value::Object(w.clone());
        let _ = writeln!(md, "\n## Webhook delivery\n");
        let _ = writeln!(
            md,
            "{} events made with createPayment while the worker was stopped; then the worker \
             was started and the receiver (answers 200 at once) counted {} deliveries ({} signed \
             `v1,…`, {} distinct webhook-ids) in {:.1} s from the first to the last: **{:.0} \
             deliveries/s** (best whole second: {}).\n",
            w["events"],
            w["total"],
            w["signed"],
            w["distinct_ids"],
            f(&w, "window_s"),
            f(&w, "per_sec"),
            w["peak_1s"],
        );
        if let Some(per_second) = w["per_second"].as_array() {
            let _ = writeln!(
                md,
                "Deliveries in each second: {}\n",
                per_second
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }

    let _ = writeln!(
        md,
        "## Peak RSS (VmHWM) and CPU\n\nCPU is the seconds (user + system) each process had used by then; `postgres CPU s` is that of the server processes then connected to the benchmark's database (Paygate's pools); `DB commits` counts the database's committed transactions so far (each statement outside a transaction is one).\n\n| after | serve MB | worker MB | simulator MB | serve CPU s | worker CPU s | postgres CPU s | DB commits |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in out["rss"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {} |",
            s(r, "phase"),
            mb(f(r, "serve_kb")),
            mb(f(r, "worker_kb")),
            mb(f(r, "simulator_kb")),
            f(r, "serve_cpu_s"),
            f(r, "worker_cpu_s"),
            f(r, "postgres_cpu_s"),
            r["db_commits"],
        );
    }

    cost_per_operation(
        &mut md,
        out["rss"].as_array().map_or(&[][..], |v| v),
        out["load"].as_array().map_or(&[][..], |v| v),
    );

    backlog(&mut md, out["backlog"].as_array().map_or(&[][..], |v| v));

    if let Some(notes) = out["notes"].as_array().filter(|n| !n.is_empty()) {
        let _ = writeln!(md, "\n## Notes\n");
        for n in notes {
            let _ = writeln!(md, "- {}", s(n, "text"));
        }
    }
    for e in out["explain"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "\n### EXPLAIN ANALYZE: {}\n\n```\n{}\n```",
            s(e, "name"),
            s(e, "text").trim_end()
        );
    }
    md
}

/// The outbox's state after each phase: jobs not yet done, and the dead row versions the
/// dispatcher's polls walk over until a vacuum (older results have no such counts: `—`).
fn backlog(md: &mut String, rows: &[Value]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Outbox backlog\n\nJobs not yet done (PENDING or DISPATCHED) in the `jobs` table, and the dead row versions PostgreSQL's statistics count in the outbox's two tables (which the worker vacuums from 1,000 on; the statistics lag by a few seconds):\n\n| when | jobs waiting | dead rows in `event_outbox` | dead rows in `jobs` |\n| --- | ---: | ---: | ---: |"
    );
    let count = |r: &Value, key: &str| r[key].as_i64().map_or("—".to_string(), |n| n.to_string());
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            s(r, "phase"),
            count(r, "jobs"),
            count(r, "dead_outbox"),
            count(r, "dead_jobs"),
        );
    }
}

/// What one operation of each scenario costs: the growth of each process's CPU and of the
/// database's commits over the scenario's phase (from the snapshot before it to the one
/// after), divided by the operations its runs measured. A phase's warm-up load, where it
/// has one (the list's), is counted in its CPU but not in its operations.
fn cost_per_operation(md: &mut String, rss: &[Value], loads: &[Value]) {
    let mut rows = vec![];
    for pair in rss.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let phase = s(after, "phase");
        let in_phase = |l: &&Value| {
            let label = s(l, "label");
            label == phase
                || label
                    .strip_prefix(phase)
                    .is_some_and(|r| r.starts_with('@'))
        };
        let ops: f64 = loads.iter().filter(in_phase).map(|l| f(l, "ops")).sum();
        if ops <= 0.0 {
            continue;
        }
        let grew = |key: &str| f(after, key) - f(before, key);
        let per = |key: &str| grew(key) / ops;
        rows.push(format!(
            "| {phase} | {ops} | {:.3} | {:.3} | {:.3} | {:.2} | {:.1} | {:.2} | {} |",
            per("postgres_cpu_s") * 1000.0,
            per("serve_cpu_s") * 1000.0,
            per("worker_cpu_s") * 1000.0,
            per("db_commits"),
            per("wal_bytes") / 1024.0,
            per("wal_fpi"),
            grew("checkpoints"),
        ));
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Cost per operation\n\nEach scenario's phase, all its concurrencies: the CPU each process used, the commits the database made and the WAL the server wrote (bytes and full-page images) during the phase, divided by the operations measured (a warm-up load in the phase counts in the CPU, not in the operations). `checkpoints` counts those the phase's own writes called for (or the timer started), not the one `bench/run` makes before each run.\n\n| scenario | operations | postgres CPU ms | serve CPU ms | worker CPU ms | DB commits | WAL kB | WAL full pages | checkpoints |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for row in rows {
        let _ = writeln!(md, "{row}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_shows_the_dead_rows_where_a_run_counted_them() {
        let rows = [
            json!({"phase": "after charge", "jobs": 0, "dead_outbox": 1843, "dead_jobs": 9120}),
            json!({"phase": "after create_payment", "jobs": 2}),
        ];
        let mut md = String::new();
        backlog(&mut md, &rows);
        let lines: Vec<&str> = md.lines().filter(|l| l.starts_with("| after")).collect();
        assert_eq!(
            lines,
            [
                "| after charge | 0 | 1843 | 9120 |",
                "| after create_payment | 2 | — | — |",
            ]
        );
        let mut none = String::new();
        backlog(&mut none, &[]);
        assert!(none.is_empty());
    }

    #[test]
    fn runs_with_much_steal_are_named_above_the_targets() {
        let out = json!({
            "load": [
                {"label": "charge", "concurrency": 64, "box_steal_pct": 31.0},
                {"label": "charge", "concurrency": 16, "box_steal_pct": 4.9},
                {"label": "list_paid@1M", "concurrency": 64},
            ],
            "pgbench": [{"concurrency": 1, "box_steal_pct": 12.0}],
            "webhook": {"per_sec": 632.6, "box_steal_pct": 9.0},
        });
        assert_eq!(
            steal_warning(&out).as_deref(),
            Some(
                "**The hypervisor took 5 % or more of the box's CPU time during charge @64 (31 %), \
                 pgbench @1 (12 %), the webhook deliveries (9 %):** those runs had a slower machine \
                 than the others."
            )
        );
        assert_eq!(
            steal_warning(&json!({"load": [{"box_steal_pct": 1.0}]})),
            None
        );
    }

    #[test]
    fn a_run_shows_its_steal_or_a_dash_when_not_recorded() {
        assert_eq!(steal(&json!({"box_steal_pct": 31.6})), "32 %");
        assert_eq!(steal(&json!({"box_steal_pct": 0})), "0 %");
        assert_eq!(steal(&json!({"tps": 2300.0})), "—");
    }

    #[test]
    fn a_phase_costs_its_growth_over_its_own_operations() {
        let rss = [
            json!({"phase": "warm-up", "postgres_cpu_s": 1.0, "serve_cpu_s": 1.0, "worker_cpu_s": 1.0, "db_commits": 100, "wal_bytes": 1_000_000, "wal_fpi": 10, "checkpoints": 3}),
            json!({"phase": "charge", "postgres_cpu_s": 3.0, "serve_cpu_s": 2.0, "worker_cpu_s": 2.5, "db_commits": 8100, "wal_bytes": 21_480_000, "wal_fpi": 1010, "checkpoints": 4}),
            json!({"phase": "list_paid", "postgres_cpu_s": 3.5, "serve_cpu_s": 3.0, "worker_cpu_s": 2.5, "db_commits": 9100, "wal_bytes": 21_582_400, "wal_fpi": 1010, "checkpoints": 4}),
            json!({"phase": "end", "postgres_cpu_s": 3.5, "serve_cpu_s": 3.0, "worker_cpu_s": 2.5, "db_commits": 9100, "wal_bytes": 21_582_400, "wal_fpi": 1010, "checkpoints": 4}),
        ];
        let loads = [
            json!({"label": "charge", "ops": 1000}),
            json!({"label": "charge", "ops": 1000}),
            json!({"label": "charge_capture_refund", "ops": 5}),
            json!({"label": "list_paid@1M", "ops": 600}),
            json!({"label": "list_paid@10k", "ops": 400}),
        ];
        let mut md = String::new();
        cost_per_operation(&mut md, &rss, &loads);
        let rows: Vec<&str> = md
            .lines()
            .filter(|l| {
                l.starts_with("| ") && !l.starts_with("| scenario") && !l.starts_with("| ---")
            })
            .collect();
        assert_eq!(
            rows,
            [
                "| charge | 2000 | 1.000 | 0.500 | 0.750 | 4.00 | 10.0 | 0.50 | 1 |",
                "| list_paid | 1000 | 0.500 | 1.000 | 0.000 | 1.00 | 0.1 | 0.00 | 0 |",
            ]
        );
    }
}
