//! Many simultaneous captures or refunds on one payment never break the ledger.
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::TestApp;

const RETRYABLE_OR_LIMIT: &[&str] = &[
    "OPERATION_IN_PROGRESS",
    "AMOUNT_EXCEEDS_AVAILABLE",
    "INVALID_STATE",
];

fn check_answers(answers: &[Value]) -> usize {
    let mut ok = 0;
    for a in answers {
        if a["errors"] == json!([]) {
            ok += 1;
        } else {
            let code = a["errors"][0]["code"].as_str().unwrap_or_default();
            assert!(RETRYABLE_OR_LIMIT.contains(&code), "a clear error, not {a}");
        }
    }
    ok
}

async fn fifty_simultaneous_captures_never_exceed_the_authorization(app: TestApp) {
    let c = app.customer_with_card("4242424242424242").await;
    let id = app.charge(&c, 1000, "MANUAL", None).await["payment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let calls =
        (0..50).map(|_| app.payment_mutation("capturePayment", json!({"id": id, "amount": 30})));
    let answers = futures::future::join_all(calls).await;
    let ok = check_answers(&answers);
    let p = app.payment(&id).await;
    let captured = p["capturedAmount"].as_i64().unwrap();
    assert!(ok >= 1);
    assert!(captured <= 1000);
    let succeeded: i64 = p["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "CAPTURE" && o["status"] == "SUCCEEDED")
        .map(|o| o["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(succeeded, captured, "the ledger and the amounts agree");
    assert_eq!(captured, 30 * ok as i64, "every success captured once");
}
on_both_backends!(fifty_simultaneous_captures_never_exceed_the_authorization);

async fn fifty_simultaneous_refunds_never_exceed_the_capture(app: TestApp) {
    let c = app.customer_with_card("4242424242424242").await;
    let id = app.charge(&c, 500, "AUTOMATIC", None).await["payment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let calls =
        (0..50).map(|_| app.payment_mutation("refundPayment", json!({"id": id, "amount": 40})));
    let answers = futures::future::join_all(calls).await;
    let ok = check_answers(&answers);
    let p = app.payment(&id).await;
    let refunded = p["refundedAmount"].as_i64().unwrap();
    assert!(refunded <= 500);
    assert_eq!(refunded, 40 * ok as i64);
    assert!(p["status"] == "PAID" || p["status"] == "REFUNDED");
}
on_both_backends!(fifty_simultaneous_refunds_never_exceed_the_capture);
