//! chargeCustomer through the worker and the acquirer simulator.
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

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

/// The card a payment was charged on, as stored.
async fn card_of(app: &TestApp, payment: &serde_json::Value) -> String {
    let id: uuid::Uuid = payment["id"].as_str().expect("a payment").parse().unwrap();
    entity::payment::Entity::find_by_id(id)
        .one(&app.gw.db)
        .await
        .unwrap()
        .expect("the payment's row")
        .payment_method_id
        .expect("a card")
        .to_string()
}

/// Sets a column of a stored card with SQL, as another process would.
async fn change_card_elsewhere(
    app: &TestApp,
    card: &str,
    column: entity::payment_method::Column,
    value: sea_orm::Value,
) {
    use entity::payment_method;
    use sea_orm::sea_query::Expr;
    let card: uuid::Uuid = card.parse().unwrap();
    payment_method::Entity::update_many()
        .col_expr(column, Expr::val(value))
        .filter(payment_method::Column::Id.eq(card))
        .exec(&app.gw.db)
        .await
        .expect("the card changed");
}

/// chargeCustomer of 9.00 EUR on the named card, or the default; its payload.
async fn charge_card(app: &TestApp, customer: &str, card: Option<&str>) -> serde_json::Value {
    let input = json!({"customerId": customer, "paymentMethodId": card, "amount": 900,
                       "currency": "EUR", "captureMethod": "AUTOMATIC"});
    app.gql(
        "mutation($i: ChargeCustomerInput!) { chargeCustomer(input: $i) { payment { id status } errors { code message } } }",
        json!({"i": input}),
    )
    .await["chargeCustomer"]
        .clone()
}

/// Another process changes a customer's cards (here: SQL on the database). A charge still
/// uses what is true when it is written, though this process charged the customer before
/// (on PostgreSQL it takes the default card it last found on trust, and its own statement
/// checks it): the new default; never an expired or removed card; and a refused charge
/// leaves no row behind.
async fn a_charge_uses_the_cards_as_they_are_when_another_process_changed_them(app: TestApp) {
    use entity::payment_method::Column;
    use entity::{operation, payment};

    let c = app.create_customer().await;
    let first = app.add_card(&c, "4242424242424242").await;
    let second = app.add_card(&c, "5555555555554444").await;

    let r = charge_card(&app, &c, None).await;
    assert_eq!(r["payment"]["status"], "PAID", "{r}");
    assert_eq!(
        card_of(&app, &r["payment"]).await,
        first,
        "the first card is the default"
    );

    // The second card becomes the default.
    change_card_elsewhere(&app, &first, Column::IsDefault, false.into()).await;
    change_card_elsewhere(&app, &second, Column::IsDefault, true.into()).await;
    let r = charge_card(&app, &c, None).await;
    assert_eq!(r["payment"]["status"], "PAID", "{r}");
    assert_eq!(
        card_of(&app, &r["payment"]).await,
        second,
        "the new default is charged"
    );

    // The default expires.
    change_card_elsewhere(&app, &second, Column::ExpYear, 2020.into()).await;
    let r = charge_card(&app, &c, None).await;
    assert!(r["payment"].is_null(), "{r}");
    assert_eq!(r["errors"][0]["code"], "NO_PAYMENT_METHOD");
    assert_eq!(r["errors"][0]["message"], "the stored card has expired");

    // A card named by the charge, then removed.
    let r = charge_card(&app, &c, Some(&first)).await;
    assert_eq!(r["payment"]["status"], "PAID", "{r}");
    assert_eq!(card_of(&app, &r["payment"]).await, first);
    change_card_elsewhere(&app, &first, Column::RemovedAt, chrono::Utc::now().into()).await;
    let r = charge_card(&app, &c, Some(&first)).await;
    assert!(r["payment"].is_null(), "{r}");
    assert_eq!(r["errors"][0]["code"], "NO_PAYMENT_METHOD");

    let customer: uuid::Uuid = c.parse().unwrap();
    let payments = payment::Entity::find()
        .filter(payment::Column::CustomerId.eq(customer))
        .count(&app.gw.db)
        .await
        .unwrap();
    assert_eq!(payments, 3, "the refused charges wrote no payment");
    assert_eq!(
        operation::Entity::find().count(&app.gw.db).await.unwrap(),
        3,
        "nor an operation"
    );
}
on_both_backends!(a_charge_uses_the_cards_as_they_are_when_another_process_changed_them);
