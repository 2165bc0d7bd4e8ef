//! Charges the buyer must accept (LiveChat Direct Charges) and recurring tokens (Chip).
use std::time::Duration;

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::paylinks::{card, fields, get_page, post_form};
use crate::support::{Backend, Options, TestApp};

const CREATE: &str = "mutation($i: CreatePaymentInput!) { createPayment(input: $i) { payment { id status amount confirmationUrl checkoutUrl commissionAmount netAmount isRecurringToken } errors { code field message } } }";

async fn consent_charge(app: &TestApp) -> Value {
    let input = json!({"requireConfirmation": true, "name": "Premium plan", "price": 1999, "quantity": 3,
                       "currency": "USD", "returnUrl": "https://shop.example/back", "commissionPercent": 15});
    let r = app.gql(CREATE, json!({"i": input})).await["createPayment"].clone();
    assert_eq!(r["errors"], json!([]), "{r}");
    r["payment"].clone()
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn a_buyer_accepts_and_the_merchant_activates(app: TestApp) {
    let p = consent_charge(&app).await;
    assert_eq!(p["status"], "PENDING_CONFIRMATION");
    assert_eq!(p["amount"], 5997);
    assert_eq!(p["commissionAmount"], 900); // 899.55 rounded half up
    assert_eq!(p["netAmount"], 5097);
    let url = p["confirmationUrl"].as_str().unwrap().to_string();
    assert!(url.ends_with(&format!("/confirm/{}", p["id"].as_str().unwrap())));
    let html = get_page(&url).await.1;
    for text in [
        "Test merchant",
        "Premium plan",
        "19.99 USD",
        "59.97 USD",
        "id=\"accept\"",
        "id=\"decline\"",
    ] {
        assert!(html.contains(text), "{text} on the confirmation page");
    }
    // Activating before the buyer accepted is refused, naming the status.
    let r = app
        .payment_mutation("activatePayment", json!({"id": p["id"]}))
        .await;
    assert_eq!(r["errors"][0]["code"], "INVALID_STATE");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("PENDING_CONFIRMATION")
    );

    let (status, location, _) = post_form(&url, &fields(&card("4242424242424242"))).await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert_eq!(
        location,
        format!(
            "https://shop.example/back?id={}&type=direct_charge",
            p["id"].as_str().unwrap()
        )
    );
    let accepted = app.payment(p["id"].as_str().unwrap()).await;
    assert_eq!(accepted["status"], "ACCEPTED");
    assert_eq!(accepted["authorizedAmount"], 5997);
    assert_eq!(accepted["capturedAmount"], 0);

    let r = app
        .payment_mutation("activatePayment", json!({"id": p["id"]}))
        .await;
    assert_eq!(r["payment"]["status"], "PAID", "{r}");
    assert_eq!(r["payment"]["capturedAmount"], 5997);
    let statuses: Vec<_> = r["payment"]["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![
            "CREATED",
            "PENDING_CONFIRMATION",
            "PENDING_EXECUTE",
            "ACCEPTED",
            "PENDING_EXECUTE",
            "PAID"
        ]
    );
    let r = app
        .payment_mutation("activatePayment", json!({"id": p["id"]}))
        .await;
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("PAID"));
}
on_both_backends!(a_buyer_accepts_and_the_merchant_activates);

async fn a_buyer_declines_and_goes_back(app: TestApp) {
    let p = consent_charge(&app).await;
    let url = p["confirmationUrl"].as_str().unwrap().to_string();
    let (status, location, _) = post_form(&url, &[("action", "decline")]).await;
    assert_eq!(status, 303);
    assert!(location.unwrap().ends_with("&type=direct_charge"));
    assert_eq!(
        app.payment(p["id"].as_str().unwrap()).await["status"],
        "DECLINED"
    );
    assert_eq!(
        browser().get(&url).send().await.unwrap().status().as_u16(),
        410
    );
    let listed = app
        .gql(
            "{ payments(filter: {status: [DECLINED]}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["payments"]["totalCount"], 1);
}
on_both_backends!(a_buyer_declines_and_goes_back);

async fn a_buyer_accepts_with_a_stored_card(app: TestApp) {
    let customer = app.create_customer().await;
    let card = app.add_card(&customer, "5555555555554444").await;
    let input = json!({"requireConfirmation": true, "name": "Seat upgrade", "price": 2500, "quantity": 1,
                       "currency": "EUR", "returnUrl": "https://shop.example/back", "customerId": customer});
    let r = app.gql(CREATE, json!({"i": input})).await["createPayment"].clone();
    let p = r["payment"].clone();
    let url = p["confirmationUrl"].as_str().unwrap().to_string();
    let html = get_page(&url).await.1;
    assert!(
        html.contains(&format!("value=\"{card}\"")) && html.contains("ending in 4444"),
        "the stored card is offered: {html}"
    );
    let (status, location, _) =
        post_form(&url, &[("stored", card.as_str()), ("action", "pay")]).await;
    assert_eq!(status, 303, "{location:?}");
    let accepted = app.payment(p["id"].as_str().unwrap()).await;
    assert_eq!(accepted["status"], "ACCEPTED", "{accepted}");
    let paid = app
        .payment_mutation("activatePayment", json!({"id": p["id"]}))
        .await;
    assert_eq!(paid["payment"]["status"], "PAID", "{paid}");
    assert_eq!(paid["payment"]["capturedAmount"], 2500);
}
on_both_backends!(a_buyer_accepts_with_a_stored_card);

/// A payment paid on its hosted page with forceRecurring: its id is a recurring token.
async fn recurring_token(app: &TestApp, number: &str) -> String {
    let p = app
        .gql(
            CREATE,
            json!({"i": {"amount": 1000, "currency": "EUR", "forceRecurring": true}}),
        )
        .await["createPayment"]["payment"]
        .clone();
    let (status, _, _) =
        post_form(p["checkoutUrl"].as_str().unwrap(), &fields(&card(number))).await;
    assert_eq!(status, 303);
    app.wait_for_status(p["id"].as_str().unwrap(), "PAID", Duration::from_secs(20))
        .await;
    let paid = app
        .gql(
            "query($id: ID!) { payment(id: $id) { status isRecurringToken } }",
            json!({"id": p["id"]}),
        )
        .await;
    assert_eq!(paid["payment"]["isRecurringToken"], true);
    p["id"].as_str().unwrap().to_string()
}

const CHARGE: &str = "mutation($i: ChargePaymentInput!) { chargePayment(input: $i) { payment { id status capturedAmount transactionData { attempts { successful pending errorCode errorDescription } } } errors { code field message } } }";

async fn new_payment(app: &TestApp, amount: i64) -> String {
    let p = app
        .gql(CREATE, json!({"i": {"amount": amount, "currency": "EUR"}}))
        .await;
    p["createPayment"]["payment"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn a_recurring_token_charges_a_created_payment(app: TestApp) {
    let token = recurring_token(&app, "4242424242424242").await;
    let id = new_payment(&app, 2500).await;
    let r = app
        .gql(CHARGE, json!({"i": {"id": id, "recurringToken": token}}))
        .await["chargePayment"]
        .clone();
    assert_eq!(r["errors"], json!([]), "{r}");
    assert_eq!(r["payment"]["status"], "PAID");
    assert_eq!(r["payment"]["capturedAmount"], 2500);

    // Not a token, another merchant's payment, a payment not CREATED: clear errors, nothing charged.
    let plain = new_payment(&app, 100).await;
    let target = new_payment(&app, 100).await;
    let r = app
        .gql(
            CHARGE,
            json!({"i": {"id": target, "recurringToken": plain}}),
        )
        .await["chargePayment"]
        .clone();
    assert_eq!(r["errors"][0]["code"], "NOT_A_RECURRING_TOKEN");
    let r = app
        .gql(
            CHARGE,
            json!({"i": {"id": target, "recurringToken": uuid::Uuid::now_v7()}}),
        )
        .await["chargePayment"]
        .clone();
    assert_eq!(r["errors"][0]["code"], "INVALID_RECURRING_TOKEN");
    let r = app
        .gql(CHARGE, json!({"i": {"id": id, "recurringToken": token}}))
        .await["chargePayment"]
        .clone();
    assert_eq!(r["errors"][0]["code"], "INVALID_STATE");
    let other = service::merchants::create_merchant(&app.gw.db, "Other")
        .await
        .unwrap();
    let (_, body) = app
        .gql_as(
            Some(other.test_key.expose()),
            CHARGE,
            json!({"i": {"id": target, "recurringToken": token}}),
        )
        .await;
    assert_eq!(
        body["data"]["chargePayment"]["errors"][0]["code"],
        "INVALID_RECURRING_TOKEN"
    );
    assert_eq!(app.payment(&target).await["status"], "CREATED");
}
on_both_backends!(a_recurring_token_charges_a_created_payment);

async fn a_failed_token_charge_answers_purchase_charge_error_with_the_attempts(app: TestApp) {
    let token = recurring_token(&app, "4000000000000341").await;
    let id = new_payment(&app, 800).await;
    let r = app
        .gql(CHARGE, json!({"i": {"id": id, "recurringToken": token}}))
        .await["chargePayment"]
        .clone();
    assert_eq!(r["errors"][0]["code"], "PURCHASE_CHARGE_ERROR");
    assert_eq!(r["payment"]["status"], "CREATED", "still payable");
    let attempts = &r["payment"]["transactionData"]["attempts"];
    assert_eq!(attempts[0]["successful"], false);
    assert_eq!(attempts[0]["errorCode"], "CARD_DECLINED");
    let events = app
        .gql(
            "query($p: ID) { events(filter: {paymentId: $p}) { edges { node { type } } } }",
            json!({"p": id}),
        )
        .await;
    let types: Vec<_> = events["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["type"].clone())
        .collect();
    assert!(types.contains(&json!("payment.payment_failure")));
}
on_both_backends!(a_failed_token_charge_answers_purchase_charge_error_with_the_attempts);

async fn a_slow_token_charge_answers_pending_then_pays(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            charge_wait: Duration::from_secs(60),
            acquirer_timeout: Duration::from_millis(300),
            slow_delay: Duration::from_millis(1500),
            ..Options::default()
        },
    )
    .await;
    let token = recurring_token(&app, "4000000000006975").await;
    let id = new_payment(&app, 1200).await;
    let r = app
        .gql(CHARGE, json!({"i": {"id": id, "recurringToken": token}}))
        .await["chargePayment"]
        .clone();
    assert_eq!(r["payment"]["status"], "PENDING_CHARGE", "{r}");
    assert_eq!(r["errors"], json!([]));
    app.wait_for_status(&id, "PAID", Duration::from_secs(20))
        .await;
    let events = app
        .gql("query($p: ID) { events(filter: {paymentId: $p}) { edges { node { type sequence } } } }", json!({"p": id}))
        .await;
    let mut seq: Vec<(i64, String)> = events["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["sequence"].as_i64().unwrap(),
                e["node"]["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seq.sort();
    let types: Vec<_> = seq.into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        types,
        vec!["payment.created", "payment.pending_charge", "payment.paid"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_token_charge_answers_pending_then_pays_on_sqlite() {
    a_slow_token_charge_answers_pending_then_pays(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_token_charge_answers_pending_then_pays_on_postgres_and_redis() {
    if crate::support::pg_enabled() {
        a_slow_token_charge_answers_pending_then_pays(Backend::PostgresRedis).await;
    }
}

async fn refund_availability_is_enforced(app: TestApp) {
    let mut paid = std::collections::HashMap::new();
    for availability in ["FULL_ONLY", "PARTIAL_ONLY", "NONE"] {
        let p = app
            .gql(CREATE, json!({"i": {"amount": 1000, "currency": "EUR", "refundAvailability": availability}}))
            .await["createPayment"]["payment"]
            .clone();
        let (status, _, _) = post_form(
            p["checkoutUrl"].as_str().unwrap(),
            &fields(&card("4242424242424242")),
        )
        .await;
        assert_eq!(status, 303);
        let id = p["id"].as_str().unwrap().to_string();
        app.wait_for_status(&id, "PAID", Duration::from_secs(20))
            .await;
        paid.insert(availability, id);
    }
    let refund = |id: &str, amount: Option<i64>| {
        app.payment_mutation("refundPayment", json!({"id": id, "amount": amount}))
    };
    let r = refund(&paid["FULL_ONLY"], Some(400)).await;
    assert_eq!(r["errors"][0]["code"], "REFUND_NOT_AVAILABLE");
    assert_eq!(
        refund(&paid["FULL_ONLY"], None).await["payment"]["status"],
        "REFUNDED"
    );
    let r = refund(&paid["PARTIAL_ONLY"], None).await;
    assert_eq!(r["errors"][0]["code"], "REFUND_NOT_AVAILABLE");
    assert_eq!(
        refund(&paid["PARTIAL_ONLY"], Some(300)).await["payment"]["refundedAmount"],
        300
    );
    let r = refund(&paid["NONE"], Some(1)).await;
    assert_eq!(r["errors"][0]["code"], "REFUND_NOT_AVAILABLE");
    let shown = app
        .gql(
            "query($id: ID!) { payment(id: $id) { refundAvailability } }",
            json!({"id": paid["NONE"]}),
        )
        .await;
    assert_eq!(shown["payment"]["refundAvailability"], "NONE");
}
on_both_backends!(refund_availability_is_enforced);
