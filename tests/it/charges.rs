//! chargeCustomer through the worker and the acquirer simulator.
use std::time::Duration;

use crate::on_both_backends;
use crate::support::{Backend, Options, TestApp};

async fn an_automatic_charge_ends_paid(app: TestApp) {
    let c = app.customer_with_card("4242424242424242").await;
    let r = app.charge(&c, 2500, "AUTOMATIC", None).await;
    assert_eq!(r["errors"], serde_json::json!([]));
    let p = &r["payment"];
    assert_eq!(p["status"], "PAID");
    assert_eq!(p["authorizedAmount"], 2500);
    assert_eq!(p["capturedAmount"], 2500);
    assert_eq!(p["refundableAmount"], 2500);
    assert_eq!(p["operations"][0]["kind"], "CHARGE");
    assert_eq!(p["operations"][0]["status"], "SUCCEEDED");
    let history: Vec<_> = p["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].clone())
        .collect();
    assert_eq!(history, vec!["CREATED", "PENDING_CHARGE", "PAID"]);
}
on_both_backends!(an_automatic_charge_ends_paid);

async fn a_manual_charge_ends_on_hold(app: TestApp) {
    let c = app.customer_with_card("4242424242424242").await;
    let p = &app.charge(&c, 1000, "MANUAL", None).await["payment"];
    assert_eq!(p["status"], "HOLD");
    assert_eq!(p["authorizedAmount"], 1000);
    assert_eq!(p["capturedAmount"], 0);
    assert_eq!(p["capturableAmount"], 1000);
    assert_eq!(p["operations"][0]["kind"], "AUTHORIZE");
}
on_both_backends!(a_manual_charge_ends_on_hold);

async fn declined_cards_end_in_error_with_the_acquirers_code(app: TestApp) {
    for (card, code) in [
        ("4000000000000002", "CARD_DECLINED"),
        ("4000000000009995", "INSUFFICIENT_FUNDS"),
    ] {
        let c = app.customer_with_card(card).await;
        let r = app.charge(&c, 1000, "AUTOMATIC", None).await;
        let p = &r["payment"];
        assert_eq!(p["status"], "ERROR", "{card}");
        assert_eq!(p["errorCode"], code);
        assert_eq!(p["operations"][0]["status"], "FAILED");
        assert_eq!(p["operations"][0]["errorCode"], code);
        assert_eq!(p["capturedAmount"], 0);
        assert_eq!(
            r["errors"][0]["code"], code,
            "the payload carries the error too"
        );
    }
}
on_both_backends!(declined_cards_end_in_error_with_the_acquirers_code);

async fn a_fraudulent_card_is_blocked(app: TestApp) {
    let c = app.customer_with_card("4100000000000019").await;
    let p = &app.charge(&c, 1000, "AUTOMATIC", None).await["payment"];
    assert_eq!(p["status"], "BLOCKED");
    assert_eq!(p["errorCode"], "FRAUDULENT");
}
on_both_backends!(a_fraudulent_card_is_blocked);

async fn a_customer_without_a_card_gets_no_payment_method(app: TestApp) {
    let c = app.create_customer().await;
    let r = app.charge(&c, 1000, "AUTOMATIC", None).await;
    assert!(r["payment"].is_null());
    assert_eq!(r["errors"][0]["code"], "NO_PAYMENT_METHOD");
}
on_both_backends!(a_customer_without_a_card_gets_no_payment_method);

async fn a_card_that_fails_twice_with_5xx_is_still_charged_once(app: TestApp) {
    let c = app.customer_with_card("4000000000000119").await;
    let p = &app.charge(&c, 700, "AUTOMATIC", None).await["payment"];
    assert_eq!(p["status"], "PAID");
    assert_eq!(app.acquirer_effects().await, 1);
}
on_both_backends!(a_card_that_fails_twice_with_5xx_is_still_charged_once);

async fn a_slow_acquirer_answers_pending_then_resolves(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            // A long deadline: answering PENDING_CHARGE at all shows the mutation did not
            // wait for the slow answer but for the worker's first, inconclusive attempt.
            charge_wait: Duration::from_secs(60),
            acquirer_timeout: Duration::from_millis(300),
            slow_delay: Duration::from_millis(1500),
            resolve_delay: Duration::from_millis(300),
            ..Options::default()
        },
    )
    .await;
    let c = app.customer_with_card("4000000000006975").await;
    let p = app.charge(&c, 1200, "AUTOMATIC", None).await["payment"].clone();
    assert_eq!(p["status"], "PENDING_CHARGE");
    let p = app
        .wait_for_status(p["id"].as_str().unwrap(), "PAID", Duration::from_secs(20))
        .await;
    assert_eq!(p["capturedAmount"], 1200);
    assert_eq!(app.acquirer_effects().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_acquirer_answers_pending_then_resolves_on_sqlite() {
    a_slow_acquirer_answers_pending_then_resolves(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_acquirer_answers_pending_then_resolves_on_postgres_and_redis() {
    if crate::support::pg_enabled() {
        a_slow_acquirer_answers_pending_then_resolves(Backend::PostgresRedis).await;
    }
}
