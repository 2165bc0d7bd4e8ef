//! Signed webhooks: delivery, retries, 410, rotation, redelivery, refused addresses.
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::support::{Backend, Options, TestApp};
use crate::{on_both_backends, on_both_backends_with};

#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }

    /// Whether one of the header's signatures is this secret's.
    pub fn signed_by(&self, secret: &str) -> bool {
        let expected =
            service::webhooks::sign(secret, &self.id, self.timestamp, &self.body).unwrap();
        self.signature.split(' ').any(|s| s == expected)
    }
}

/// An answer to give: status and Retry-After seconds.
type Answer = (u16, Option<u64>);

#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Received>>>,
    /// Answers to give, in order (status, Retry-After); 200 once they run out.
    pub script: Arc<Mutex<VecDeque<Answer>>>,
    pub url: String,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> impl IntoResponse {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    r.got.lock().unwrap().push(Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp").parse().unwrap_or(0),
        signature: h("webhook-signature"),
        body,
    });
    let (status, retry_after) = r.script.lock().unwrap().pop_front().unwrap_or((200, None));
    let mut out = HeaderMap::new();
    if let Some(s) = retry_after {
        out.insert("retry-after", s.to_string().parse().unwrap());
    }
    (
        StatusCode::from_u16(status).unwrap(),
        out,
        format!("answer {status}"),
    )
}

impl Receiver {
    pub async fn start(script: Vec<Answer>) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut r = Receiver {
            script: Arc::new(Mutex::new(script.into())),
            ..Receiver::default()
        };
        r.url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        r
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} webhooks arrived: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Waits until the event's first delivery has `status`, and returns the event.
async fn delivery_settled(app: &TestApp, event_id: &str, status: &str) -> Value {
    let q = "query($id: ID!) { event(id: $id) { deliveries { status attemptCount attempts { statusCode } } } }";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ev = app.gql(q, json!({"id": event_id})).await;
        if ev["event"]["deliveries"][0]["status"] == status {
            return ev["event"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery never became {status}: {ev}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn endpoint(app: &TestApp, url: &str, types: Option<Vec<&str>>) -> (String, String) {
    let data = app
        .gql(
            "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { endpoint { id url enabled } secret errors { code field message } } }",
            json!({"i": {"url": url, "eventTypes": types}}),
        )
        .await;
    let p = &data["createWebhookEndpoint"];
    assert_eq!(p["errors"], json!([]), "{p}");
    (
        p["endpoint"]["id"].as_str().unwrap().to_string(),
        p["secret"].as_str().unwrap().to_string(),
    )
}

pub async fn create_payment(app: &TestApp) -> String {
    let data = app
        .gql("mutation { createPayment(input: {amount: 100, currency: \"EUR\"}) { payment { id } } }", json!({}))
        .await;
    data["createPayment"]["payment"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn every_event_of_a_charge_capture_refund_arrives_signed(app: TestApp) {
    let receiver = Receiver::start(vec![]).await;
    let (_, secret) = endpoint(&app, &receiver.url, None).await;
    assert!(secret.starts_with("whsec_") && secret.len() >= 6 + 32);
    let c = app.customer_with_card("4242424242424242").await;
    let id = app.charge(&c, 900, "MANUAL", None).await["payment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.payment_mutation("capturePayment", json!({"id": id}))
        .await;
    app.payment_mutation("refundPayment", json!({"id": id, "amount": 300}))
        .await;
    let expected = [
        "payment.created",
        "payment.pending_execute",
        "payment.hold",
        "payment.pending_capture",
        "payment.captured",
        "payment.pending_refund",
        "payment.refunded",
    ];
    let got = receiver
        .wait_for(expected.len(), Duration::from_secs(20))
        .await;
    for r in &got {
        assert!(r.signed_by(&secret), "bad signature on {r:?}");
        let body = r.json();
        assert_eq!(body["data"]["id"], id.as_str());
        assert!(body["timestamp"].is_string());
        // The snapshot: the payment as it was, with its kind and mode, never the card.
        let data = &body["data"];
        assert_eq!(data["object"], "payment", "{body}");
        assert_eq!(data["livemode"], false, "{body}");
        assert_eq!(
            (&data["amount"], &data["currency"]),
            (&json!(900), &json!("EUR"))
        );
        assert!(
            !r.body.contains("4242424242424242"),
            "a card number in {body}"
        );
        let (status, captured, refunded) = match body["type"].as_str().unwrap() {
            "payment.created" => ("CREATED", 0, 0),
            "payment.hold" => ("HOLD", 0, 0),
            "payment.captured" => ("PAID", 900, 0),
            "payment.refunded" => ("PAID", 900, 300),
            _ => continue,
        };
        assert_eq!(
            (
                &data["status"],
                &data["capturedAmount"],
                &data["refundedAmount"]
            ),
            (&json!(status), &json!(captured), &json!(refunded)),
            "{body}"
        );
    }
    let mut types: Vec<String> = got
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect();
    types.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(types, want);
    // Each webhook-id is its event's id, and the log shows the delivery.
    delivery_settled(&app, &got[0].id, "SUCCEEDED").await;
    let ev = app
        .gql(
            "query($id: ID!) { event(id: $id) { type deliveries { status attempts { statusCode durationMs responseExcerpt } } } }",
            json!({"id": got[0].id}),
        )
        .await;
    assert_eq!(
        ev["event"]["deliveries"][0]["attempts"][0]["statusCode"],
        200
    );
    assert_eq!(
        ev["event"]["deliveries"][0]["attempts"][0]["responseExcerpt"],
        "answer 200"
    );
    let listed = app
        .gql(
            "query($p: ID) { events(filter: {paymentId: $p}) { totalCount } }",
            json!({"p": id}),
        )
        .await;
    assert_eq!(listed["events"]["totalCount"], 7);
}
on_both_backends!(every_event_of_a_charge_capture_refund_arrives_signed);

async fn a_receiver_that_fails_three_times_gets_the_event_on_the_fourth_try(app: TestApp) {
    let receiver = Receiver::start(vec![(500, None), (502, None), (500, None)]).await;
    let (_, secret) = endpoint(&app, &receiver.url, Some(vec!["payment.created"])).await;
    create_payment(&app).await;
    let got = receiver.wait_for(4, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 4);
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "the same webhook-id each time"
    );
    assert!(got.iter().all(|r| r.signed_by(&secret)));
    let ev = delivery_settled(&app, &got[0].id, "SUCCEEDED").await;
    let d = &ev["deliveries"][0];
    assert_eq!(d["attemptCount"], 4);
    let codes: Vec<_> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["statusCode"].clone())
        .collect();
    assert_eq!(codes, vec![json!(500), json!(502), json!(500), json!(200)]);
}
on_both_backends!(a_receiver_that_fails_three_times_gets_the_event_on_the_fourth_try);

async fn a_delivery_that_never_succeeds_fails_and_flags_the_endpoint(app: TestApp) {
    let receiver = Receiver::start(vec![(500, None); 10]).await;
    let (endpoint_id, _) = endpoint(&app, &receiver.url, Some(vec!["payment.created"])).await;
    create_payment(&app).await;
    let got = receiver.wait_for(4, Duration::from_secs(20)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let data = app
            .gql("{ webhookEndpoints { id failingSince } }", json!({}))
            .await;
        if data["webhookEndpoints"][0]["failingSince"].is_string() {
            assert_eq!(data["webhookEndpoints"][0]["id"], endpoint_id.as_str());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "endpoint never flagged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    delivery_settled(&app, &got[0].id, "FAILED").await;
    assert_eq!(
        receiver.received().len(),
        4,
        "one try and three retries, no more"
    );
}
on_both_backends!(a_delivery_that_never_succeeds_fails_and_flags_the_endpoint);

async fn gone_disables_the_endpoint(app: TestApp) {
    let receiver = Receiver::start(vec![(410, None)]).await;
    let (endpoint_id, _) = endpoint(&app, &receiver.url, Some(vec!["payment.created"])).await;
    create_payment(&app).await;
    receiver.wait_for(1, Duration::from_secs(20)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let data = app
            .gql("{ webhookEndpoints { enabled disabledReason } }", json!({}))
            .await;
        if data["webhookEndpoints"][0]["enabled"] == false {
            assert!(
                data["webhookEndpoints"][0]["disabledReason"]
                    .as_str()
                    .unwrap()
                    .contains("410")
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "endpoint never disabled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    create_payment(&app).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "nothing more goes to a disabled endpoint"
    );
    app.gql(
        "mutation($i: WebhookEndpointIdInput!) { enableWebhookEndpoint(input: $i) { endpoint { enabled } } }",
        json!({"i": {"id": endpoint_id}}),
    )
    .await;
    create_payment(&app).await;
    receiver.wait_for(2, Duration::from_secs(20)).await;
}
on_both_backends!(gone_disables_the_endpoint);

async fn after_rotation_both_secrets_sign_and_redelivery_keeps_the_id(app: TestApp) {
    let receiver = Receiver::start(vec![]).await;
    let (endpoint_id, old) = endpoint(&app, &receiver.url, Some(vec!["payment.created"])).await;
    let data = app
        .gql(
            "mutation($i: WebhookEndpointIdInput!) { rotateWebhookSecret(input: $i) { secret errors { code } } }",
            json!({"i": {"id": endpoint_id}}),
        )
        .await;
    let new = data["rotateWebhookSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    create_payment(&app).await;
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(
        got[0].signature.split(' ').count(),
        2,
        "two signatures: {}",
        got[0].signature
    );
    assert!(got[0].signed_by(&new) && got[0].signed_by(&old));

    let data = app
        .gql(
            "mutation($i: RedeliverEventInput!) { redeliverEvent(input: $i) { deliveries { id } errors { code } } }",
            json!({"i": {"eventId": got[0].id, "endpointId": endpoint_id}}),
        )
        .await;
    assert_eq!(
        data["redeliverEvent"]["deliveries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let again = receiver.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(again[1].id, got[0].id, "the same webhook-id");
    assert_eq!(again[1].body, got[0].body);
}
on_both_backends!(after_rotation_both_secrets_sign_and_redelivery_keeps_the_id);

async fn retry_after_is_honoured(app: TestApp) {
    let receiver = Receiver::start(vec![(503, Some(1))]).await;
    endpoint(&app, &receiver.url, Some(vec!["payment.created"])).await;
    create_payment(&app).await;
    // The schedule says an hour; the receiver asked for one second.
    let got = receiver.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(got[0].id, got[1].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_after_is_honoured_on_sqlite() {
    let opts = Options {
        webhook_schedule: vec![Duration::from_secs(3600)],
        ..Options::default()
    };
    retry_after_is_honoured(TestApp::spawn_with(Backend::Sqlite, opts).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_addresses_and_bad_urls_are_refused() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            webhook_allow_private: false,
            ..Options::default()
        },
    )
    .await;
    let q = "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { endpoint { id } secret errors { code field } } }";
    for (url, code) in [
        ("http://127.0.0.1:9/hooks", "PRIVATE_ADDRESS"),
        ("http://10.0.0.8/hooks", "PRIVATE_ADDRESS"),
        ("http://localhost/hooks", "PRIVATE_ADDRESS"),
        ("ftp://example.com/hooks", "INVALID_URL"),
    ] {
        let data = app.gql(q, json!({"i": {"url": url}})).await;
        assert_eq!(
            data["createWebhookEndpoint"]["errors"][0]["code"], code,
            "{url}"
        );
        assert_eq!(
            data["createWebhookEndpoint"]["errors"][0]["field"],
            json!(["input", "url"])
        );
        assert!(data["createWebhookEndpoint"]["secret"].is_null());
    }
    let data = app
        .gql(
            q,
            json!({"i": {"url": "https://hooks.example.com/x", "eventTypes": ["payment.nope"]}}),
        )
        .await;
    assert_eq!(
        data["createWebhookEndpoint"]["errors"][0]["code"],
        "UNKNOWN_EVENT_TYPE"
    );
    let data = app
        .gql(q, json!({"i": {"url": "https://hooks.example.com/x"}}))
        .await;
    assert!(
        data["createWebhookEndpoint"]["secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
}

/// A payment (its event is the model) and `n` more events of its merchant, mode and type,
/// with the sequence numbers that follow, each with its outbox row as the service writes
/// them. Answers the payment's event.
async fn burst_of_events(app: &TestApp, n: usize) -> entity::event::Model {
    use entity::event;
    use sea_orm::{ConnectionTrait, EntityTrait, IntoActiveModel, Set};
    create_payment(app).await;
    // The payment's event is the model of the burst: same merchant, mode and type, and
    // the sequence numbers that follow it.
    let model = event::Entity::find()
        .one(&app.gw.db)
        .await
        .unwrap()
        .expect("the payment's event");
    let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
    let burst: Vec<event::ActiveModel> = ids
        .iter()
        .zip(1..)
        .map(|(id, n)| event::ActiveModel {
            id: Set(*id),
            sequence: Set(model.sequence + n),
            created_at: Set(service::db::now()),
            ..model.clone().into_active_model()
        })
        .collect();
    // Written as the service writes events: each with its outbox row.
    for (chunk, ids) in burst.chunks(200).zip(ids.chunks(200)) {
        event::Entity::insert_many(chunk.to_vec())
            .exec(&app.gw.db)
            .await
            .unwrap();
        app.gw
            .db
            .execute(&service::events::outbox_insert(ids))
            .await
            .unwrap();
    }
    model
}

/// A burst of events larger than the dispatcher's batch (500) is fanned out in one tick,
/// every event to its endpoint: the dispatcher goes on while batches come back full.
async fn a_burst_larger_than_a_batch_is_fanned_out_in_one_tick(app: TestApp) {
    use entity::webhook_delivery;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    const BURST: usize = 1_200;
    let (endpoint_id, _) = endpoint(&app, "http://127.0.0.1:9/hooks", None).await;
    let model = burst_of_events(&app, BURST).await;

    // A live subscriber: the probe (the payment's event, published until it is heard)
    // proves the listener is up before the tick.
    let mut live = app.gw.bus.subscribe();
    let heard = async {
        loop {
            app.gw
                .bus
                .publish_all(&[service::bus::Published::from(&model)])
                .await;
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(100), live.recv()).await {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), heard)
        .await
        .expect("the subscriber hears the bus");

    let fanned = worker::fan_out(&app.gw).await;

    assert_eq!(fanned, BURST + 1, "events read in one tick");
    let mut sequences = vec![];
    while sequences.len() < BURST {
        let p = tokio::time::timeout(Duration::from_secs(10), live.recv())
            .await
            .expect("the burst reaches the live subscriber")
            .expect("no event lost on the bus");
        // Late probes and the payment's own event are the same event; the burst follows.
        if p.event_id != model.id {
            sequences.push(p.sequence);
        }
    }
    let expected: Vec<i64> = (1..=BURST as i64).map(|n| model.sequence + n).collect();
    assert_eq!(sequences, expected, "published once each, in order");
    let waiting = entity::event_outbox::Entity::find()
        .count(&app.gw.db)
        .await
        .unwrap();
    assert_eq!(waiting, 0, "events left for the next tick");
    let deliveries = webhook_delivery::Entity::find()
        .filter(
            webhook_delivery::Column::EndpointId.eq(uuid::Uuid::parse_str(&endpoint_id).unwrap()),
        )
        .count(&app.gw.db)
        .await
        .unwrap();
    assert_eq!(deliveries, (BURST + 1) as u64);
}
on_both_backends_with!(
    a_burst_larger_than_a_batch_is_fanned_out_in_one_tick,
    Options {
        worker: false,
        ..Options::default()
    }
);

/// Two dispatchers fanning out the same outbox at once (two worker processes) claim each
/// event once between them: every event gets one delivery, and none is left.
async fn two_dispatchers_at_once_fan_out_each_event_once(app: TestApp) {
    use entity::{event_outbox, webhook_delivery};
    use sea_orm::{EntityTrait, PaginatorTrait};
    const BURST: usize = 1_200;
    endpoint(&app, "http://127.0.0.1:9/hooks", None).await;
    burst_of_events(&app, BURST).await;
    let (mut first, mut second) = (0, 0);
    // A dispatcher that found its batch claimed by the other stops for this tick; ticks
    // go on until the outbox is empty.
    for _ in 0..10 {
        let (a, b) = tokio::join!(worker::fan_out(&app.gw), worker::fan_out(&app.gw));
        first += a;
        second += b;
        if a + b == 0 {
            break;
        }
    }
    assert_eq!(
        first + second,
        BURST + 1,
        "each event claimed once: {first} + {second}"
    );
    let waiting = event_outbox::Entity::find()
        .count(&app.gw.db)
        .await
        .unwrap();
    assert_eq!(waiting, 0, "events left in the outbox");
    let deliveries = webhook_delivery::Entity::find()
        .count(&app.gw.db)
        .await
        .unwrap();
    assert_eq!(deliveries, (BURST + 1) as u64, "one delivery per event");
}
on_both_backends_with!(
    two_dispatchers_at_once_fan_out_each_event_once,
    Options {
        worker: false,
        ..Options::default()
    }
);

/// An event still to fan out when the outbox moved from the event log's column to its own
/// table is fanned out after the move, once; one already fanned out is not again.
async fn an_event_waiting_across_the_outbox_migration_is_fanned_out(app: TestApp) {
    use migration::MigratorTrait;
    use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, Statement};
    let db = &app.gw.db;
    let (_endpoint_id, _) = endpoint(&app, "http://127.0.0.1:9/hooks", None).await;
    create_payment(&app).await;
    assert_eq!(
        worker::fan_out(&app.gw).await,
        1,
        "the first payment's event"
    );
    create_payment(&app).await;
    // Back to the event log's column (the outbox's migration and those after it go down):
    // the second event is the one still to do.
    let migrations = migration::Migrator::migrations();
    let outbox = migrations
        .iter()
        .position(|m| m.name() == "m20261124_000006_event_outbox")
        .expect("the outbox's migration");
    let steps = (migrations.len() - outbox) as u32;
    migration::Migrator::down(db, Some(steps))
        .await
        .expect("down");
    let waiting = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM events WHERE fanned_out_at IS NULL",
        ))
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1);
    migration::Migrator::up(db, None).await.expect("up again");
    assert_eq!(
        entity::event_outbox::Entity::find()
            .count(db)
            .await
            .unwrap(),
        1
    );
    assert_eq!(worker::fan_out(&app.gw).await, 1, "the waiting event");
    assert_eq!(worker::fan_out(&app.gw).await, 0, "nothing left");
    let deliveries = entity::webhook_delivery::Entity::find()
        .count(db)
        .await
        .unwrap();
    assert_eq!(deliveries, 2, "one delivery per event");
}
on_both_backends_with!(
    an_event_waiting_across_the_outbox_migration_is_fanned_out,
    Options {
        worker: false,
        ..Options::default()
    }
);

/// Two copies of a delivery's job that both got a 2xx (a copy handed out again while the
/// first was sending), recorded at the same time: the delivery is SUCCEEDED with one
/// attempt, one attempt row is kept, and the job is done.
async fn two_copies_of_a_delivered_attempt_record_it_once(app: TestApp) {
    use entity::{job, webhook_attempt, webhook_delivery};
    use sea_orm::{
        ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
        Statement, TransactionTrait,
    };
    let (endpoint_id, _) = endpoint(&app, "http://127.0.0.1:9/hooks", None).await;
    create_payment(&app).await;
    assert_eq!(worker::fan_out(&app.gw).await, 1);
    let delivery = webhook_delivery::Entity::find()
        .filter(
            webhook_delivery::Column::EndpointId.eq(uuid::Uuid::parse_str(&endpoint_id).unwrap()),
        )
        .one(&app.gw.db)
        .await
        .unwrap()
        .expect("the delivery");
    let job_row = job::Entity::find()
        .filter(job::Column::Kind.eq("deliver_webhook"))
        .one(&app.gw.db)
        .await
        .unwrap()
        .expect("its job");
    let outcome = service::webhooks::AttemptOutcome {
        status_code: Some(200),
        duration: Duration::from_millis(3),
        response_excerpt: Some("ok".into()),
        error: None,
        retry_after: None,
    };
    let record = || service::webhooks::record_attempt(&app.gw, &job_row, delivery.id, &outcome);
    // On PostgreSQL another transaction holds the delivery's row until both copies are
    // under way, so they run at the same time (SQLite runs one transaction at a time).
    let blocker = if app.gw.db.get_database_backend() == DbBackend::Postgres {
        let txn = app.gw.db.begin().await.unwrap();
        txn.query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM webhook_deliveries WHERE id = $1 FOR UPDATE",
            [delivery.id.into()],
        ))
        .await
        .unwrap()
        .expect("the delivery's row, locked");
        Some(txn)
    } else {
        None
    };
    let release = async {
        if let Some(txn) = blocker {
            tokio::time::sleep(Duration::from_millis(300)).await;
            txn.commit().await.unwrap();
        }
    };
    let (first, second, ()) = tokio::join!(record(), record(), release);
    first.expect("the first copy records");
    second.expect("the second copy records nothing, without error");
    // And a late third copy.
    record().await.expect("a late copy records nothing");

    let delivery = webhook_delivery::Entity::find_by_id(delivery.id)
        .one(&app.gw.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.status, "SUCCEEDED");
    assert_eq!(delivery.attempts, 1);
    assert_eq!(delivery.next_attempt_at, None);
    let attempts = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.eq(delivery.id))
        .all(&app.gw.db)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1, "one attempt row: {attempts:?}");
    assert_eq!(attempts[0].status_code, Some(200));
    assert_eq!(attempts[0].response_excerpt.as_deref(), Some("ok"));
    let done = job::Entity::find_by_id(job_row.id)
        .one(&app.gw.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, "DONE");
    assert_eq!(
        webhook_attempt::Entity::find()
            .count(&app.gw.db)
            .await
            .unwrap(),
        1
    );
}
on_both_backends_with!(
    two_copies_of_a_delivered_attempt_record_it_once,
    Options {
        worker: false,
        ..Options::default()
    }
);
