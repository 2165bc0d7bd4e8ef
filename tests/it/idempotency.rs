//! Idempotency keys: one effect per key, replayed answers, refused reuse.
use serde_json::json;

use crate::on_both_backends;
use crate::support::{PAYLOAD, TestApp};

async fn the_same_key_and_input_charge_once(app: TestApp) {
    let c = app.customer_with_card("4242424242424242").await;
    let first = app.charge(&c, 1500, "AUTOMATIC", Some("order-42")).await;
    let second = app.charge(&c, 1500, "AUTOMATIC", Some("order-42")).await;
    assert_eq!(first["payment"]["id"], second["payment"]["id"]);
    assert_eq!(second["payment"]["status"], "PAID");
    assert_eq!(app.acquirer_effects().await, 1);
    let total = app.gql("{ payments { totalCount } }", json!({})).await;
    assert_eq!(total["payments"]["totalCount"], 1);

    let other = app.charge(&c, 1600, "AUTOMATIC", Some("order-42")).await;
    assert_eq!(other["errors"][0]["code"], "IDEMPOTENCY_KEY_REUSED");
    assert!(other["payment"].is_null());
}
on_both_backends!(the_same_key_and_input_charge_once);

async fn the_header_works_as_the_key_and_errors_are_replayed(app: TestApp) {
    let c = app.create_customer().await;
    let query = format!(
        "mutation($i: ChargeCustomerInput!) {{ chargeCustomer(input: $i) {{ {PAYLOAD} }} }}"
    );
    let send = |amount: i64| {
        app.client
            .post(format!("{}/graphql", app.url))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "hdr-1")
            .json(&json!({"query": query, "variables": {"i": {"customerId": c, "amount": amount, "currency": "EUR"}}}))
            .send()
    };
    let a: serde_json::Value = send(100).await.unwrap().json().await.unwrap();
    assert_eq!(
        a["data"]["chargeCustomer"]["errors"][0]["code"],
        "NO_PAYMENT_METHOD"
    );
    // A card added since does not change the recorded answer for this key.
    app.add_card(&c, "4242424242424242").await;
    let b: serde_json::Value = send(100).await.unwrap().json().await.unwrap();
    assert_eq!(
        b["data"]["chargeCustomer"]["errors"][0]["code"],
        "NO_PAYMENT_METHOD"
    );
    let d: serde_json::Value = send(200).await.unwrap().json().await.unwrap();
    assert_eq!(
        d["data"]["chargeCustomer"]["errors"][0]["code"],
        "IDEMPOTENCY_KEY_REUSED"
    );
}
on_both_backends!(the_header_works_as_the_key_and_errors_are_replayed);

async fn concurrent_duplicates_run_once(app: TestApp) {
    let c = app.customer_with_card("4242424242424242").await;
    let runs = (0..8).map(|_| app.charge(&c, 900, "AUTOMATIC", Some("dup-1")));
    let answers = futures::future::join_all(runs).await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .filter_map(|a| a["payment"]["id"].as_str().map(String::from))
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    for a in &answers {
        assert!(
            a["payment"]["id"].is_string() || a["errors"][0]["code"] == "IDEMPOTENCY_IN_PROGRESS",
            "each duplicate gets the answer or a retryable error: {a}"
        );
    }
    assert_eq!(app.acquirer_effects().await, 1);
}
on_both_backends!(concurrent_duplicates_run_once);

/// A change that commits without the key (adding a card) still has its answer recorded with
/// the key once it is done: the repeat answers the same card, and no second card is stored.
async fn a_key_is_completed_after_a_change_that_did_not_complete_it(app: TestApp) {
    let c = app.create_customer().await;
    let add = || {
        app.gql(
            "mutation($i: AddTestCardInput!) { addTestCard(input: $i) { paymentMethod { id } errors { code } } }",
            json!({"i": {"customerId": c, "number": "4242424242424242", "expMonth": 12, "expYear": 2030, "idempotencyKey": "card-1"}}),
        )
    };
    let first = add().await;
    let again = tokio::time::timeout(std::time::Duration::from_secs(5), add())
        .await
        .expect("the repeat answers at once, not after waiting for the key");
    let id = first["addTestCard"]["paymentMethod"]["id"].as_str();
    assert!(id.is_some(), "{first}");
    assert_eq!(
        again["addTestCard"]["paymentMethod"]["id"].as_str(),
        id,
        "{again}"
    );
    let cards = app
        .gql(
            "query($id: ID!) { customer(id: $id) { paymentPreferences { paymentMethods { id } } } }",
            json!({"id": c}),
        )
        .await;
    assert_eq!(
        cards["customer"]["paymentPreferences"]["paymentMethods"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{cards}"
    );
}
on_both_backends!(a_key_is_completed_after_a_change_that_did_not_complete_it);
