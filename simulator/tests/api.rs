//! End-to-end tests: a real simulator on 127.0.0.1:0, called over HTTP.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use simulator::SimulatorConfig;

struct Sim {
    base: String,
    http: Client,
}

impl Sim {
    async fn start(config: SimulatorConfig) -> Sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(simulator::serve(listener, config, std::future::pending()));
        Sim {
            base: format!("http://{addr}"),
            http: Client::new(),
        }
    }

    async fn default() -> Sim {
        Sim::start(SimulatorConfig::default()).await
    }

    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    async fn token(&self, number: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/tokens",
                None,
                json!({"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn pay(&self, key: &str, token: &str, amount: i64, capture: bool) -> (StatusCode, Value) {
        self.post(
            "/v1/payments",
            Some(key),
            json!({"token": token, "amount": amount, "currency": "EUR", "capture": capture}),
        )
        .await
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn healthz() {
    let sim = Sim::default().await;
    let resp = sim
        .http
        .get(format!("{}/healthz", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn tokenize_validates_and_hides_the_number() {
    let sim = Sim::default().await;
    let (status, body) = sim
        .post(
            "/v1/tokens",
            None,
            json!({"number": "4242424242424242", "exp_month": 12, "exp_year": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["brand"], "visa");
    assert_eq!(body["last4"], "4242");
    assert_eq!(body["exp_month"], 12);
    assert_eq!(body["exp_year"], 2030);
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("tok_ok_4242_"), "{token}");
    assert!(!token.contains("424242424242"));

    let cases = [
        (
            json!({"number": "4242424242424241", "exp_month": 12, "exp_year": 2030}),
            "invalid_number",
        ),
        (
            json!({"number": "4242-4242-4242-4242", "exp_month": 12, "exp_year": 2030}),
            "invalid_number",
        ),
        (
            json!({"number": "4242424242424242", "exp_month": 13, "exp_year": 2030}),
            "invalid_expiry",
        ),
        (
            json!({"number": "4242424242424242", "exp_month": 1, "exp_year": 2020}),
            "expired_card",
        ),
        (
            json!({"number": "4242424242424242", "exp_month": 1, "exp_year": 2030, "cvc": "12"}),
            "invalid_cvc",
        ),
        (
            json!({"number": 4242424242424242_i64, "exp_month": 1, "exp_year": 2030}),
            "invalid_request",
        ),
        (json!({"exp_month": 1}), "invalid_request"),
    ];
    for (req, expected) in cases {
        let (status, body) = sim.post("/v1/tokens", None, req.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{req}");
        assert_eq!(code(&body), expected, "{req}");
        assert!(!body.to_string().contains("4242424242424242"));
    }

    let (_, body) = sim
        .post(
            "/v1/tokens",
            None,
            json!({"number": "5555555555554444", "exp_month": 12, "exp_year": 2030}),
        )
        .await;
    assert_eq!(body["brand"], "mastercard");
    let (_, body) = sim
        .post(
            "/v1/tokens",
            None,
            json!({"number": "378282246310005", "exp_month": 12, "exp_year": 2030, "cvc": "1234"}),
        )
        .await;
    assert_eq!(body["brand"], "amex");
}

#[tokio::test]
async fn malformed_json_is_invalid_request() {
    let sim = Sim::default().await;
    let resp = sim
        .http
        .post(format!("{}/v1/payments", sim.base))
        .header("Idempotency-Key", "k-bad-json")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "invalid_request");
    // Not recorded.
    let (status, _) = sim.get("/v1/operations/k-bad-json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn authorize_capture_and_idempotent_replay() {
    let sim = Sim::default().await;
    let token = sim.token("4242424242424242").await;
    let (status, first) = sim.pay("k1", &token, 1000, true).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["status"], "captured");
    assert_eq!(first["amount"], 1000);
    assert_eq!(first["currency"], "EUR");
    assert_eq!(first["authorized_amount"], 1000);
    assert_eq!(first["captured_amount"], 1000);
    assert_eq!(first["released_amount"], 0);
    assert_eq!(first["refunded_amount"], 0);
    assert!(first["id"].as_str().unwrap().starts_with("pay_"));

    // Same key, same body: same answer, no new payment.
    let (status, replay) = sim.pay("k1", &token, 1000, true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replay, first);

    // Same key, other body.
    let (status, body) = sim.pay("k1", &token, 2000, true).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "idempotency_key_reused");

    // Stored answer visible through operations.
    let (status, op) = sim.get("/v1/operations/k1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        op,
        json!({"state": "done", "status_code": 200, "body": first})
    );
    let (status, body) = sim.get("/v1/operations/never-seen").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "not_found");

    // Missing key.
    let (status, body) = sim
        .post(
            "/v1/payments",
            None,
            json!({"token": token, "amount": 1, "currency": "EUR", "capture": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "missing_idempotency_key");
}

#[tokio::test]
async fn payment_validation() {
    let sim = Sim::default().await;
    let token = sim.token("4242424242424242").await;
    let (status, body) = sim.pay("v1", "tok_bogus", 1000, true).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_token")
    );
    let (status, body) = sim.pay("v2", &token, 0, true).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_amount")
    );
    let (status, body) = sim.pay("v3", &token, -5, false).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_amount")
    );
    // Zero-amount card check.
    let (status, body) = sim.pay("v4", &token, 0, false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "authorized");
    let (status, body) = sim
        .post(
            "/v1/payments",
            Some("v5"),
            json!({"token": token, "amount": "ten", "currency": "EUR"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (status, body) = sim
        .post(
            "/v1/payments/pay_nope/capture",
            Some("v6"),
            json!({"amount": 1}),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn capture_release_refund() {
    let sim = Sim::default().await;
    let token = sim.token("4242424242424242").await;
    let (status, auth) = sim.pay("a1", &token, 1000, false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(auth["status"], "authorized");
    assert_eq!(auth["captured_amount"], 0);
    let id = auth["id"].as_str().unwrap();
    let path = |action: &str| format!("/v1/payments/{id}/{action}");

    let (status, body) = sim
        .post(&path("capture"), Some("c0"), json!({"amount": 1500}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "amount_too_large")
    );
    let (status, body) = sim
        .post(&path("refund"), Some("r0"), json!({"amount": 1}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_state")
    );

    let (status, body) = sim
        .post(&path("capture"), Some("c1"), json!({"amount": 400}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["captured_amount"], 400);
    // Replay of a capture has no second effect.
    let (_, replay) = sim
        .post(&path("capture"), Some("c1"), json!({"amount": 400}))
        .await;
    assert_eq!(replay, body);
    let (status, body) = sim
        .post(&path("capture"), Some("c2"), json!({"amount": 300}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["captured_amount"], 700);
    assert_eq!(body["status"], "authorized");

    let (status, body) = sim
        .post(&path("release"), Some("l1"), json!({"amount": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["released_amount"], 300);
    assert_eq!(body["status"], "captured");
    let (status, body) = sim
        .post(&path("release"), Some("l2"), json!({"amount": null}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_state")
    );
    let (status, body) = sim
        .post(&path("capture"), Some("c3"), json!({"amount": 1}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_state")
    );

    let (status, body) = sim
        .post(&path("refund"), Some("r1"), json!({"amount": 500}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["refund_id"].as_str().unwrap().starts_with("re_"));
    assert_eq!(body["payment"]["refunded_amount"], 500);
    let (status, body) = sim
        .post(&path("refund"), Some("r2"), json!({"amount": 201}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "amount_too_large")
    );
    let (status, body) = sim
        .post(&path("refund"), Some("r3"), json!({"amount": 200}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["payment"]["refunded_amount"], 700);

    let (status, body) = sim.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["captured_amount"], 700);
    assert_eq!(body["refunded_amount"], 700);
}

#[tokio::test]
async fn decline_cards() {
    let sim = Sim::default().await;
    for (number, expected) in [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4100000000000019", "fraudulent"),
    ] {
        let token = sim.token(number).await;
        let (status, body) = sim.pay(&format!("d-{number}"), &token, 1000, true).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
        assert_eq!(code(&body), expected);
        assert!(body["id"].as_str().unwrap().starts_with("pay_"));
    }
    for number in ["4000000000000259", "6011111111111117"] {
        let token = sim.token(number).await;
        let (status, body) = sim.pay(&format!("ok-{number}"), &token, 1000, true).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // The 3-D Secure card needs an authentication first.
    let token = sim.token("4000000000003220").await;
    let (status, body) = sim.pay("3ds-none", &token, 1000, true).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(code(&body), "authentication_required");
}

#[tokio::test]
async fn three_d_secure_approve_then_later_charges_need_no_challenge() {
    let sim = Sim::default().await;
    let token = sim.token("4000000000003220").await;
    let (status, auth) = sim
        .post(
            "/v1/authentications",
            None,
            json!({"token": token, "amount": 700, "currency": "EUR", "return_url": "http://shop.test/back"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{auth}");
    let id = auth["id"].as_str().unwrap().to_string();
    assert!(
        auth["challenge_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/3ds/{id}"))
    );
    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = no_redirects
        .post(format!("{}/3ds/{id}", sim.base))
        .form(&[("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        back.headers()["location"],
        format!("http://shop.test/back?authentication={id}").as_str()
    );
    let (_, a) = sim.get(&format!("/v1/authentications/{id}")).await;
    assert_eq!(a["status"], "authenticated");
    // The wrong amount is not covered by the authentication.
    let (status, _) = sim
        .post(
            "/v1/payments",
            Some("3ds-wrong"),
            json!({"token": token, "amount": 900, "currency": "EUR", "authentication": id}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (status, body) = sim
        .post("/v1/payments", Some("3ds-ok"), json!({"token": token, "amount": 700, "currency": "EUR", "capture": true, "authentication": id}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A remembered card: the merchant charges it later without a new challenge.
    let (status, body) = sim.pay("3ds-later", &token, 300, true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn flaky_card_fails_twice_then_succeeds() {
    let sim = Sim::default().await;
    let token = sim.token("4000000000000119").await;
    assert!(token.starts_with("tok_flaky_0119_"));
    for _ in 0..2 {
        let (status, body) = sim.pay("f1", &token, 1000, true).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(code(&body), "unavailable");
        let (status, _) = sim.get("/v1/operations/f1").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, body) = sim.pay("f1", &token, 1000, true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, replay) = sim.pay("f1", &token, 1000, true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replay, body);
    // A new key starts over.
    let (status, _) = sim.pay("f2", &token, 1000, true).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn slow_card_is_processing_then_done() {
    let sim = Sim::start(SimulatorConfig {
        slow_delay: Duration::from_millis(300),
        ..SimulatorConfig::default()
    })
    .await;
    let token = sim.token("4000000000006975").await;
    let started = Instant::now();
    let http = sim.http.clone();
    let url = format!("{}/v1/payments", sim.base);
    let body = json!({"token": token, "amount": 1000, "currency": "EUR", "capture": true});
    let slow = tokio::spawn({
        let body = body.clone();
        async move {
            let resp = http
                .post(url)
                .header("Idempotency-Key", "s1")
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    });

    let mut seen_processing = false;
    while started.elapsed() < Duration::from_millis(250) {
        let (status, op) = sim.get("/v1/operations/s1").await;
        if status == StatusCode::OK {
            assert_eq!(op, json!({"state": "processing"}));
            seen_processing = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen_processing);
    let (status, body409) = sim.post("/v1/payments", Some("s1"), body).await;
    assert_eq!(
        (status, code(&body409)),
        (StatusCode::CONFLICT, "processing")
    );

    let (status, answer) = slow.await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "captured");
    let (_, op) = sim.get("/v1/operations/s1").await;
    assert_eq!(
        op,
        json!({"state": "done", "status_code": 200, "body": answer})
    );
}

#[tokio::test]
async fn slow_card_completes_after_client_disconnects() {
    let sim = Sim::start(SimulatorConfig {
        slow_delay: Duration::from_millis(200),
        ..SimulatorConfig::default()
    })
    .await;
    let token = sim.token("4000000000006975").await;
    let impatient = Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let result = impatient
        .post(format!("{}/v1/payments", sim.base))
        .header("Idempotency-Key", "s2")
        .json(&json!({"token": token, "amount": 700, "currency": "USD", "capture": false}))
        .send()
        .await;
    assert!(result.is_err(), "expected a client timeout");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, op) = sim.get("/v1/operations/s2").await;
    assert_eq!(op["state"], "done");
    assert_eq!(op["status_code"], 200);
    assert_eq!(op["body"]["status"], "authorized");
}

#[tokio::test]
async fn error_rate_one_always_503() {
    let sim = Sim::start(SimulatorConfig {
        error_rate: 1.0,
        ..SimulatorConfig::default()
    })
    .await;
    let (status, body) = sim
        .post(
            "/v1/tokens",
            None,
            json!({"number": "4242424242424242", "exp_month": 12, "exp_year": 2030}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    let (status, _) = sim
        .pay("e1", "tok_ok_4242_0123456789abcdef", 1000, true)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = sim.get("/v1/operations/e1").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // Health stays up.
    let resp = sim
        .http
        .get(format!("{}/healthz", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn latency_is_added() {
    let sim = Sim::start(SimulatorConfig {
        latency: Duration::from_millis(100),
        ..SimulatorConfig::default()
    })
    .await;
    let started = Instant::now();
    let (status, _) = sim.get("/v1/operations/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn tokens_survive_a_restart() {
    let first = Sim::default().await;
    let token = first.token("4000000000000002").await;
    let second = Sim::default().await;
    let (status, body) = second.pay("t1", &token, 1000, true).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYMENT_REQUIRED, "card_declined")
    );
}
