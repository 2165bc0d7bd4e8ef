//! Capture, release, refund and cancel, with their limits.
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

async fn held(app: &TestApp, amount: i64) -> String {
    let c = app.customer_with_card("4242424242424242").await;
    let p = app.charge(&c, amount, "MANUAL", None).await;
    assert_eq!(p["payment"]["status"], "HOLD", "{p}");
    p["payment"]["id"].as_str().unwrap().to_string()
}

async fn several_partial_captures_stop_at_the_authorized_amount(app: TestApp) {
    let id = held(&app, 1000).await;
    let r = app
        .payment_mutation("capturePayment", json!({"id": id, "amount": 300}))
        .await;
    assert_eq!(r["payment"]["status"], "PAID");
    assert_eq!(r["payment"]["capturedAmount"], 300);
    assert_eq!(r["payment"]["capturableAmount"], 700);
    let r = app
        .payment_mutation("capturePayment", json!({"id": id, "amount": 800}))
        .await;
    assert_eq!(r["errors"][0]["code"], "AMOUNT_EXCEEDS_AVAILABLE");
    assert_eq!(r["errors"][0]["field"], json!(["input", "amount"]));
    // The default is what remains.
    let r = app
        .payment_mutation("capturePayment", json!({"id": id}))
        .await;
    assert_eq!(r["payment"]["capturedAmount"], 1000);
    assert_eq!(r["payment"]["capturableAmount"], 0);
    let r = app
        .payment_mutation("capturePayment", json!({"id": id, "amount": 1}))
        .await;
    assert_eq!(r["errors"][0]["code"], "INVALID_STATE");
}
on_both_backends!(several_partial_captures_stop_at_the_authorized_amount);

async fn releasing_a_hold_ends_released(app: TestApp) {
    let id = held(&app, 1000).await;
    let r = app
        .payment_mutation("releasePayment", json!({"id": id}))
        .await;
    assert_eq!(r["payment"]["status"], "RELEASED");
    assert_eq!(r["payment"]["releasedAmount"], 1000);
    let r = app
        .payment_mutation("capturePayment", json!({"id": id}))
        .await;
    assert_eq!(r["errors"][0]["code"], "INVALID_STATE");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("RELEASED")
    );
}
on_both_backends!(releasing_a_hold_ends_released);

async fn partial_refunds_never_exceed_what_was_captured(app: TestApp) {
    let c = app.customer_with_card("4242424242424242").await;
    let id = app.charge(&c, 1000, "AUTOMATIC", None).await["payment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .payment_mutation(
            "refundPayment",
            json!({"id": id, "amount": 400, "reason": "damaged"}),
        )
        .await;
    assert_eq!(r["payment"]["status"], "PAID");
    assert_eq!(r["payment"]["refundedAmount"], 400);
    assert_eq!(r["payment"]["refundableAmount"], 600);
    let r = app
        .payment_mutation("refundPayment", json!({"id": id, "amount": 601}))
        .await;
    assert_eq!(r["errors"][0]["code"], "AMOUNT_EXCEEDS_AVAILABLE");
    let r = app
        .payment_mutation("refundPayment", json!({"id": id}))
        .await;
    assert_eq!(r["payment"]["status"], "REFUNDED");
    assert_eq!(r["payment"]["refundedAmount"], 1000);
    let r = app
        .payment_mutation("refundPayment", json!({"id": id, "amount": 1}))
        .await;
    assert_eq!(r["errors"][0]["code"], "INVALID_STATE");
    assert!(r["payment"].is_null());
    let p = app.payment(&id).await;
    let ops: Vec<_> = p["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["kind"].clone(), o["amount"].clone()))
        .collect();
    assert_eq!(
        ops,
        vec![
            (json!("CHARGE"), json!(1000)),
            (json!("REFUND"), json!(400)),
            (json!("REFUND"), json!(600))
        ]
    );
}
on_both_backends!(partial_refunds_never_exceed_what_was_captured);

async fn only_an_unauthorized_payment_can_be_cancelled(app: TestApp) {
    let data = app
        .gql(
            "mutation { createPayment(input: {amount: 999, currency: \"JPY\"}) { payment { id status currency } errors { code } } }",
            json!({}),
        )
        .await;
    let p = &data["createPayment"]["payment"];
    assert_eq!(p["status"], "CREATED");
    assert_eq!(p["currency"], "JPY");
    let r = app
        .payment_mutation("cancelPayment", json!({"id": p["id"]}))
        .await;
    assert_eq!(r["payment"]["status"], "CANCELLED");
    let r = app
        .payment_mutation("cancelPayment", json!({"id": p["id"]}))
        .await;
    assert_eq!(r["errors"][0]["code"], "INVALID_STATE");

    let id = held(&app, 500).await;
    let r = app
        .payment_mutation("cancelPayment", json!({"id": id}))
        .await;
    assert_eq!(r["errors"][0]["code"], "INVALID_STATE");
    assert!(
        r["errors"][0]["message"].as_str().unwrap().contains("HOLD"),
        "{r}"
    );
}
on_both_backends!(only_an_unauthorized_payment_can_be_cancelled);
