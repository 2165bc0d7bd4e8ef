//! The `paygate` binary's commands.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_paygate");

#[test]
fn schema_graphql_matches_the_code() {
    let out = Command::new(BIN)
        .arg("schema")
        .output()
        .expect("paygate schema");
    assert!(out.status.success());
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        file,
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn a_bad_pool_size_is_refused_with_its_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    for (value, message) in [
        ("0", "PAYGATE_DATABASE_POOL must be at least 1"),
        (
            "many",
            "PAYGATE_DATABASE_POOL has an invalid value: \"many\"",
        ),
    ] {
        let out = Command::new(BIN)
            .arg("migrate")
            .env("PAYGATE_DATABASE_URL", &url)
            .env("PAYGATE_DATABASE_POOL", value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "pool {value} was accepted");
        assert!(stderr.contains(message), "pool {value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn merchant_create_prints_its_id_and_two_keys_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let migrate = Command::new(BIN)
        .arg("migrate")
        .env("PAYGATE_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let out = Command::new(BIN)
        .args(["merchant", "create", "--name", "Acme", "--json"])
        .env("PAYGATE_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert!(
        v["merchantId"]
            .as_str()
            .unwrap()
            .parse::<uuid::Uuid>()
            .is_ok()
    );
    assert!(v["testKey"].as_str().unwrap().starts_with("sk_test_"));
    assert!(v["liveKey"].as_str().unwrap().starts_with("sk_live_"));
}

#[test]
fn all_serves_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("all")
        .current_dir(dir.path())
        .env("PAYGATE_ADDR", "127.0.0.1:0")
        .env("PAYGATE_SIMULATOR_ADDR", "127.0.0.1:0")
        .env_remove("PAYGATE_DATABASE_URL")
        .env_remove("PAYGATE_REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut key = None;
    let mut url = None;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(k) = line.trim().strip_prefix("demo test key: ") {
            key = Some(k.to_string());
        }
        if let Some(u) = line.trim().strip_prefix("GraphQL:  POST ") {
            url = Some(u.to_string());
            break;
        }
    }
    // Keep reading what it prints, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    let (key, url) = (
        key.expect("demo key printed"),
        url.expect("GraphQL URL printed"),
    );
    assert!(key.starts_with("sk_test_"));
    assert!(
        dir.path().join("paygate.db").exists(),
        "the SQLite file is created"
    );
    let health = url.replace("/graphql", "/healthz");
    let client = reqwest::blocking_get(&health);
    assert_eq!(client, 200);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(code) = child.try_wait().unwrap() {
            assert!(code.success(), "exit status {code}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "paygate all did not exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

mod reqwest {
    /// A tiny blocking GET on a fresh runtime (the test itself is synchronous).
    pub fn blocking_get(url: &str) -> u16 {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            ::reqwest::get(url)
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        })
    }
}
