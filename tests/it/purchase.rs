//! The rest of Chip's purchase lifecycle: sent and viewed, due dates, preauthorization,
//! clearing and settlement, chargebacks, the release of stale holds, and Payer's cancel
//! race. Schedules run on short intervals set per test, never on real days.
use std::time::Duration;

use serde_json::{Value, json};

use crate::paylinks::{card, fields, get_page, post_form};
use crate::support::TestApp;
use crate::{on_both_backends, on_both_backends_with};

const CREATE: &str = "mutation($i: CreatePaymentInput!) { createPayment(input: $i) { payment { id status amount checkoutUrl dueAt dueStrict } errors { code field message } } }";

const DETAIL: &str = "id status amount authorizedAmount capturedAmount releasedAmount refundedAmount \
    chargebackAmount isRecurringToken customerId sentAt viewedAt authorizedAt paidAt clearedAt settledAt \
    operations { id kind amount status reason } statusHistory { status reason operationId }";

async fn create(app: &TestApp, input: Value) -> Value {
    app.gql(CREATE, json!({ "i": input })).await["createPayment"].clone()
}

async fn detail(app: &TestApp, id: &str) -> Value {
    app.gql(
        &format!("query($id: ID!) {{ payment(id: $id) {{ {DETAIL} }} }}"),
        json!({ "id": id }),
    )
    .await["payment"]
        .clone()
}

/// Polls until `check` holds for the payment's detail, or fails after `within`.
async fn wait_until(
    app: &TestApp,
    id: &str,
    within: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let p = detail(app, id).await;
        if check(&p) {
            return p;
        }
        assert!(tokio::time::Instant::now() < deadline, "never {what}: {p}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn history(p: &Value) -> Vec<String> {
    p["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap().to_string())
        .collect()
}

async fn mutation(app: &TestApp, name: &str, id: &str) -> Value {
    app.gql(
        &format!(
            "mutation($i: CancelPaymentInput!) {{ {name}(input: $i) {{ payment {{ id status sentAt }} errors {{ code field message }} }} }}"
        ),
        json!({ "i": { "id": id } }),
    )
    .await[name]
        .clone()
}

async fn a_sent_invoice_is_viewed_then_paid_and_every_step_is_in_the_history(app: TestApp) {
    let r = create(&app, json!({"amount": 2500, "currency": "EUR"})).await;
    let id = r["payment"]["id"].as_str().unwrap().to_string();
    let url = r["payment"]["checkoutUrl"].as_str().unwrap().to_string();

    let sent = mutation(&app, "sendPayment", &id).await;
    assert_eq!(sent["errors"], json!([]), "{sent}");
    assert_eq!(sent["payment"]["status"], "SENT");
    assert!(sent["payment"]["sentAt"].is_string());

    assert_eq!(get_page(&url).await.0, 200);
    let viewed = detail(&app, &id).await;
    assert_eq!(viewed["status"], "VIEWED");
    assert!(viewed["viewedAt"].is_string());
    // A second view changes nothing.
    get_page(&url).await;
    assert_eq!(
        history(&detail(&app, &id).await),
        ["CREATED", "SENT", "VIEWED"]
    );

    let (status, _, _) = post_form(&url, &fields(&card("4242424242424242"))).await;
    assert_eq!(status, 303);
    let paid = detail(&app, &id).await;
    assert_eq!(paid["status"], "PAID");
    assert_eq!(
        history(&paid),
        ["CREATED", "SENT", "VIEWED", "PENDING_CHARGE", "PAID"]
    );
    // The money moves name the operation behind them; the others have none.
    let charge_op = paid["operations"][0]["id"].clone();
    for h in paid["statusHistory"].as_array().unwrap() {
        assert!(h["reason"].as_str().is_some_and(|r| !r.is_empty()), "{h}");
        match h["status"].as_str().unwrap() {
            "PENDING_CHARGE" | "PAID" => assert_eq!(h["operationId"], charge_op, "{h}"),
            _ => assert!(h["operationId"].is_null(), "{h}"),
        }
    }

    let again = mutation(&app, "sendPayment", &id).await;
    assert_eq!(again["errors"][0]["code"], "INVALID_STATE");
    assert!(
        again["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("PAID")
    );
}
on_both_backends!(a_sent_invoice_is_viewed_then_paid_and_every_step_is_in_the_history);

async fn a_payment_past_its_due_date_is_overdue_and_still_payable(app: TestApp) {
    let due = chrono::Utc::now() + chrono::Duration::milliseconds(600);
    let r = create(
        &app,
        json!({"amount": 900, "currency": "EUR", "dueAt": due.to_rfc3339()}),
    )
    .await;
    assert_eq!(r["errors"], json!([]), "{r}");
    assert_eq!(r["payment"]["dueStrict"], false);
    let id = r["payment"]["id"].as_str().unwrap().to_string();
    app.wait_for_status(&id, "OVERDUE", Duration::from_secs(10))
        .await;
    let url = r["payment"]["checkoutUrl"].as_str().unwrap();
    let (status, _, _) = post_form(url, &fields(&card("4242424242424242"))).await;
    assert_eq!(status, 303);
    let paid = detail(&app, &id).await;
    assert_eq!(paid["status"], "PAID");
    assert_eq!(
        history(&paid),
        ["CREATED", "OVERDUE", "PENDING_CHARGE", "PAID"]
    );
}
on_both_backends!(a_payment_past_its_due_date_is_overdue_and_still_payable);

async fn a_strict_due_date_expires_the_payment_and_its_page(app: TestApp) {
    let due = chrono::Utc::now() + chrono::Duration::milliseconds(600);
    let r = create(
        &app,
        json!({"amount": 900, "currency": "EUR", "dueAt": due.to_rfc3339(), "dueStrict": true}),
    )
    .await;
    let id = r["payment"]["id"].as_str().unwrap().to_string();
    let url = r["payment"]["checkoutUrl"].as_str().unwrap().to_string();
    app.wait_for_status(&id, "EXPIRED", Duration::from_secs(10))
        .await;
    let (status, page) = get_page(&url).await;
    assert_eq!(status, 410);
    assert!(page.contains("past its due date"));
    let (status, _, _) = post_form(&url, &fields(&card("4242424242424242"))).await;
    assert_eq!(status, 410);
    assert_eq!(detail(&app, &id).await["status"], "EXPIRED");
    assert_eq!(app.acquirer_effects().await, 0, "nothing was charged");
    let cancel = mutation(&app, "cancelPayment", &id).await;
    assert_eq!(cancel["errors"][0]["code"], "INVALID_STATE");
}
on_both_backends!(a_strict_due_date_expires_the_payment_and_its_page);

async fn bad_due_dates_are_refused(app: TestApp) {
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let r = create(
        &app,
        json!({"amount": 900, "currency": "EUR", "dueAt": past}),
    )
    .await;
    assert_eq!(r["errors"][0]["code"], "DUE_IN_PAST");
    assert_eq!(r["errors"][0]["field"], json!(["input", "dueAt"]));
    let r = create(
        &app,
        json!({"amount": 900, "currency": "EUR", "dueStrict": true}),
    )
    .await;
    assert_eq!(r["errors"][0]["code"], "REQUIRED");
    assert!(r["payment"].is_null());
}
on_both_backends!(bad_due_dates_are_refused);

async fn a_zero_amount_manual_payment_checks_the_card_and_saves_it(app: TestApp) {
    let r = create(
        &app,
        json!({"amount": 0, "currency": "EUR", "captureMethod": "MANUAL", "description": "Card check"}),
    )
    .await;
    assert_eq!(r["errors"], json!([]), "{r}");
    let id = r["payment"]["id"].as_str().unwrap().to_string();
    let url = r["payment"]["checkoutUrl"].as_str().unwrap().to_string();
    let html = get_page(&url).await.1;
    assert!(html.contains("Check and save card"), "{html}");
    let (status, location, _) = post_form(&url, &fields(&card("4242424242424242"))).await;
    assert_eq!(status, 303, "{location:?}");
    let p = detail(&app, &id).await;
    assert_eq!(p["status"], "PREAUTHORIZED", "{p}");
    assert_eq!(p["authorizedAmount"], 0);
    assert_eq!(p["isRecurringToken"], true);
    assert!(
        p["customerId"].is_string(),
        "the card is kept on a customer"
    );

    // The checked card pays a later payment as a recurring token.
    let next = create(&app, json!({"amount": 1500, "currency": "EUR"})).await;
    let next_id = next["payment"]["id"].as_str().unwrap();
    let charged = app
        .gql(
            "mutation($i: ChargePaymentInput!) { chargePayment(input: $i) { payment { status capturedAmount } errors { code message } } }",
            json!({"i": {"id": next_id, "recurringToken": id}}),
        )
        .await["chargePayment"]
        .clone();
    assert_eq!(charged["payment"]["status"], "PAID", "{charged}");
    assert_eq!(charged["payment"]["capturedAmount"], 1500);

    // Zero is only a card check.
    let r = create(&app, json!({"amount": 0, "currency": "EUR"})).await;
    assert_eq!(r["errors"][0]["code"], "INVALID_AMOUNT");
}
on_both_backends!(a_zero_amount_manual_payment_checks_the_card_and_saves_it);

async fn paid_payments_clear_then_settle_and_can_still_be_refunded(app: TestApp) {
    let c = app.customer_with_card("4242424242424242").await;
    let p = app.charge(&c, 3000, "AUTOMATIC", None).await;
    let id = p["payment"]["id"].as_str().unwrap().to_string();
    assert_eq!(p["payment"]["status"], "PAID");
    let settled = app
        .wait_for_status(&id, "SETTLED", Duration::from_secs(15))
        .await;
    assert_eq!(
        history(&settled),
        ["CREATED", "PENDING_CHARGE", "PAID", "CLEARED", "SETTLED"]
    );
    let d = detail(&app, &id).await;
    assert!(d["clearedAt"].is_string() && d["settledAt"].is_string());
    assert!(d["clearedAt"].as_str() <= d["settledAt"].as_str());

    let r = app
        .payment_mutation("refundPayment", json!({"id": id, "amount": 1000}))
        .await;
    assert_eq!(r["errors"], json!([]), "{r}");
    assert_eq!(r["payment"]["status"], "SETTLED", "back where it was");
    assert_eq!(r["payment"]["refundedAmount"], 1000);
    let r = app
        .payment_mutation("refundPayment", json!({"id": id}))
        .await;
    assert_eq!(r["payment"]["status"], "REFUNDED");
    assert_eq!(r["payment"]["refundedAmount"], 3000);

    // A settled payment can still be charged back: what was not refunded is taken back.
    let p = app.charge(&c, 5000, "AUTOMATIC", None).await;
    let id = p["payment"]["id"].as_str().unwrap().to_string();
    app.wait_for_status(&id, "SETTLED", Duration::from_secs(15))
        .await;
    let r = app
        .payment_mutation("refundPayment", json!({"id": id, "amount": 1500}))
        .await;
    assert_eq!(r["payment"]["status"], "SETTLED", "{r}");
    let (status, answer) = signed_chargeback(&app, &id, 5000).await;
    assert_eq!(status, 200, "{answer}");
    let d = detail(&app, &id).await;
    assert_eq!(d["status"], "CHARGEBACK");
    assert_eq!(d["chargebackAmount"], 3500, "what was not refunded");
}

/// Posts the acquirer's chargeback notice of a payment, signed with the shared secret.
async fn signed_chargeback(app: &TestApp, payment_id: &str, amount: i64) -> (u16, Value) {
    let reference = acquirer_reference(app, payment_id).await;
    let body = json!({"id": format!("evt_{payment_id}"), "type": "payment.chargeback",
                      "payment_id": reference, "amount": amount, "currency": "EUR",
                      "reason": "fraudulent"})
    .to_string();
    let secret = crate::support::notification_secret(&app.settings);
    let signature = simulator::sign(&secret, chrono::Utc::now().timestamp(), &body);
    post_notification(app, &body, &signature).await
}

/// The acquirer's id of a payment, as the acquirer's notifications name it.
async fn acquirer_reference(app: &TestApp, payment_id: &str) -> String {
    use sea_orm::EntityTrait;
    entity::payment::Entity::find_by_id(payment_id.parse::<uuid::Uuid>().unwrap())
        .one(&app.gw.db)
        .await
        .unwrap()
        .unwrap()
        .acquirer_reference
        .unwrap()
}
on_both_backends_with!(
    paid_payments_clear_then_settle_and_can_still_be_refunded,
    crate::support::Options {
        clearing_after: std::time::Duration::from_millis(300),
        settlement_after: std::time::Duration::from_millis(300),
        ..crate::support::Options::default()
    }
);

async fn post_notification(app: &TestApp, body: &str, signature: &str) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/acquirer/notifications", app.url))
        .header("simulator-signature", signature)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn the_chargeback_card_is_charged_back_by_a_signed_notification(app: TestApp) {
    let c = app.customer_with_card("4000000000000259").await;
    let p = app.charge(&c, 4200, "AUTOMATIC", None).await;
    let id = p["payment"]["id"].as_str().unwrap().to_string();
    assert_eq!(p["payment"]["status"], "PAID", "the card pays first");
    let back = app
        .wait_for_status(&id, "CHARGEBACK", Duration::from_secs(15))
        .await;
    assert_eq!(
        history(&back),
        ["CREATED", "PENDING_CHARGE", "PAID", "CHARGEBACK"]
    );
    let d = detail(&app, &id).await;
    assert_eq!(d["chargebackAmount"], 4200);
    let op = d["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "CHARGEBACK")
        .cloned()
        .unwrap_or_else(|| panic!("a CHARGEBACK operation: {d}"));
    assert_eq!(op["amount"], 4200);
    let last = d["statusHistory"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["operationId"], op["id"]);
    assert!(last["reason"].as_str().unwrap().contains("charged back"));
    let r = app
        .payment_mutation("refundPayment", json!({"id": id}))
        .await;
    assert_eq!(r["errors"][0]["code"], "INVALID_STATE");
    let events = app
        .gql(
            "query { events(first: 50) { edges { node { type } } } }",
            json!({}),
        )
        .await;
    assert!(
        events.to_string().contains("payment.chargeback"),
        "{events}"
    );

    // A notification with a bad signature is refused and changes nothing.
    let other = app.customer_with_card("4242424242424242").await;
    let paid = app.charge(&other, 1000, "AUTOMATIC", None).await;
    let paid_id = paid["payment"]["id"].as_str().unwrap().to_string();
    let reference = acquirer_reference(&app, &paid_id).await;
    let body = json!({"id": "evt_forged", "type": "payment.chargeback", "payment_id": reference,
                      "amount": 1000, "currency": "EUR", "reason": "forged"})
    .to_string();
    let now = chrono::Utc::now().timestamp();
    let forged = simulator::sign("not-the-secret", now, &body);
    let (status, answer) = post_notification(&app, &body, &forged).await;
    assert_eq!(status, 401, "{answer}");
    let (status, _) = post_notification(&app, &body, "").await;
    assert_eq!(status, 401);
    // The right secret on another body does not pass either.
    let secret = crate::support::notification_secret(&app.settings);
    let other_body = body.replace("1000", "999");
    let (status, _) =
        post_notification(&app, &body, &simulator::sign(&secret, now, &other_body)).await;
    assert_eq!(status, 401);
    assert_eq!(detail(&app, &paid_id).await["status"], "PAID");

    // Signed with the shared secret it goes through, once.
    let signed = simulator::sign(&secret, now, &body);
    let (status, answer) = post_notification(&app, &body, &signed).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = post_notification(&app, &body, &signed).await;
    assert_eq!(
        status, 200,
        "a repeated notice is accepted and changes nothing"
    );
    let d = detail(&app, &paid_id).await;
    assert_eq!(d["status"], "CHARGEBACK");
    assert_eq!(history(&d).iter().filter(|s| *s == "CHARGEBACK").count(), 1);
}
on_both_backends!(the_chargeback_card_is_charged_back_by_a_signed_notification);

async fn a_hold_not_captured_in_time_is_released(app: TestApp) {
    let c = app.customer_with_card("4242424242424242").await;
    let p = app.charge(&c, 5000, "MANUAL", None).await;
    let id = p["payment"]["id"].as_str().unwrap().to_string();
    assert_eq!(p["payment"]["status"], "HOLD");
    let released = app
        .wait_for_status(&id, "RELEASED", Duration::from_secs(15))
        .await;
    assert_eq!(released["releasedAmount"], 5000);
    assert_eq!(released["capturedAmount"], 0);
    let d = detail(&app, &id).await;
    let op = d["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "RELEASE")
        .cloned()
        .unwrap();
    assert_eq!(op["status"], "SUCCEEDED");
    assert!(
        op["reason"]
            .as_str()
            .unwrap()
            .contains("released automatically")
    );
    assert_eq!(
        history(&d),
        [
            "CREATED",
            "PENDING_EXECUTE",
            "HOLD",
            "PENDING_RELEASE",
            "RELEASED"
        ]
    );
}
on_both_backends_with!(
    a_hold_not_captured_in_time_is_released,
    crate::support::Options {
        hold_release_after: std::time::Duration::from_millis(800),
        ..crate::support::Options::default()
    }
);

async fn a_cancel_during_the_authorization_cancels_and_releases_it(app: TestApp) {
    let c = app.customer_with_card("4000000000006975").await;
    let p = app.charge(&c, 7000, "MANUAL", None).await;
    let id = p["payment"]["id"].as_str().unwrap().to_string();
    assert_eq!(p["payment"]["status"], "PENDING_EXECUTE", "{p}");
    let cancelled = mutation(&app, "cancelPayment", &id).await;
    assert_eq!(cancelled["errors"], json!([]), "{cancelled}");
    assert_eq!(cancelled["payment"]["status"], "CANCELLED");
    // The slow acquirer authorizes after all: the worker releases it, and the payment
    // stays CANCELLED.
    let d = wait_until(&app, &id, Duration::from_secs(20), "released", |p| {
        p["releasedAmount"] == 7000
    })
    .await;
    assert_eq!(d["status"], "CANCELLED");
    assert_eq!(d["authorizedAmount"], 7000);
    assert_eq!(d["capturedAmount"], 0);
    let kinds: Vec<(String, String)> = d["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_string(),
                o["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("AUTHORIZE".into(), "SUCCEEDED".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("RELEASE".into(), "SUCCEEDED".into())),
        "{kinds:?}"
    );
    assert_eq!(history(&d), ["CREATED", "PENDING_EXECUTE", "CANCELLED"]);
    // The acquirer saw the authorization and its release: two effects.
    assert_eq!(app.acquirer_effects().await, 2);
}
on_both_backends_with!(
    a_cancel_during_the_authorization_cancels_and_releases_it,
    crate::support::Options {
        charge_wait: std::time::Duration::from_millis(300),
        slow_delay: std::time::Duration::from_millis(1500),
        ..crate::support::Options::default()
    }
);

/// A database made before the lifecycle columns existed gets them, and its payments go on
/// numbering their events from their latest one.
async fn an_older_database_gains_the_lifecycle_columns(app: TestApp) {
    use migration::MigratorTrait;
    use sea_orm::{ConnectionTrait, EntityTrait};

    let c = app.customer_with_card("4242424242424242").await;
    let paid = app.charge(&c, 1200, "AUTOMATIC", None).await;
    let id: uuid::Uuid = paid["payment"]["id"].as_str().unwrap().parse().unwrap();
    let db = &app.gw.db;
    // Back to the schema of the three first migrations: no lifecycle columns at all (the
    // later migrations go down first, then the lifecycle's).
    let later = migration::Migrator::migrations().len() as u32 - 3;
    migration::Migrator::down(db, Some(later))
        .await
        .expect("down");
    let columns = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT * FROM payments LIMIT 1",
        ))
        .await
        .unwrap();
    assert!(
        columns[0].try_get::<i64>("", "event_sequence").is_err(),
        "the column is gone"
    );
    migration::Migrator::up(db, None).await.expect("up again");
    let p = entity::payment::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.event_sequence, 3, "created, pending_charge, paid");
    assert!(!p.due_strict);
    assert_eq!(p.chargeback_amount, 0);
    // The next event takes the next number.
    let r = app
        .payment_mutation("refundPayment", json!({"id": id.to_string()}))
        .await;
    assert_eq!(r["payment"]["status"], "REFUNDED", "{r}");
    let seqs = app
        .gql(
            "query($p: ID!) { events(first: 10, filter: {paymentId: $p}) { edges { node { sequence } } } }",
            json!({ "p": id.to_string() }),
        )
        .await;
    let mut got: Vec<i64> = seqs["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["sequence"].as_i64().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, vec![1, 2, 3, 4, 5]);
}
on_both_backends!(an_older_database_gains_the_lifecycle_columns);
