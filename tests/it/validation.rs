//! Bad input gets a precise code and the failing field's path, never a 500.
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

const CREATE: &str = "mutation($i: CreatePaymentInput!) { createPayment(input: $i) { payment { id amount vatAmount items { total vatAmount } } errors { code field message } } }";

async fn create(app: &TestApp, input: serde_json::Value) -> serde_json::Value {
    app.gql(CREATE, json!({"i": input})).await["createPayment"].clone()
}

async fn bad_amounts_and_currencies_name_the_field(app: TestApp) {
    let r = create(&app, json!({"amount": 100, "currency": "XXY"})).await;
    assert_eq!(r["errors"][0]["code"], "INVALID_CURRENCY");
    assert_eq!(r["errors"][0]["field"], json!(["input", "currency"]));
    for amount in [0, -5] {
        let r = create(&app, json!({"amount": amount, "currency": "EUR"})).await;
        assert_eq!(r["errors"][0]["code"], "INVALID_AMOUNT");
        assert_eq!(r["errors"][0]["field"], json!(["input", "amount"]));
    }
    let r = create(
        &app,
        json!({"amount": "9223372036854775807", "currency": "EUR"}),
    )
    .await;
    assert_eq!(r["errors"][0]["code"], "AMOUNT_TOO_LARGE");
    let r = create(&app, json!({"currency": "EUR"})).await;
    assert_eq!(r["errors"][0]["code"], "AMOUNT_REQUIRED");
    assert!(r["payment"].is_null());
}
on_both_backends!(bad_amounts_and_currencies_name_the_field);

async fn items_are_totalled_with_vat_and_checked(app: TestApp) {
    let item = |price: i64, vat: i64, qty: i64| json!({"name": "Book", "unitPrice": price, "vatRate": vat, "quantity": qty});
    let r = create(
        &app,
        json!({"currency": "EUR", "items": [item(12500, 2500, 2), item(999, 1200, 1)]}),
    )
    .await;
    assert_eq!(r["errors"], json!([]));
    assert_eq!(r["payment"]["amount"], 25999);
    assert_eq!(r["payment"]["vatAmount"], 5107);
    assert_eq!(r["payment"]["items"][0]["vatAmount"], 5000);

    let r = create(
        &app,
        json!({"currency": "EUR", "items": [item(100, 2500, 1), item(100, 10001, 1)]}),
    )
    .await;
    assert_eq!(r["errors"][0]["code"], "INVALID_VAT_RATE");
    assert_eq!(
        r["errors"][0]["field"],
        json!(["input", "items", "1", "vatRate"])
    );

    let many: Vec<_> = (0..101).map(|_| item(1, 0, 1)).collect();
    let r = create(&app, json!({"currency": "EUR", "items": many})).await;
    assert_eq!(r["errors"][0]["code"], "TOO_MANY_ITEMS");

    let r = create(
        &app,
        json!({"currency": "EUR", "items": [item(400_000_000_000_000, 0, 3)]}),
    )
    .await;
    assert_eq!(r["errors"][0]["code"], "AMOUNT_OVERFLOW");
    assert_eq!(
        r["errors"][0]["field"],
        json!(["input", "items", "0", "quantity"])
    );
}
on_both_backends!(items_are_totalled_with_vat_and_checked);

async fn malformed_ids_and_cursors_are_clear_errors(app: TestApp) {
    let r = app
        .payment_mutation("capturePayment", json!({"id": "not-a-uuid"}))
        .await;
    assert_eq!(r["errors"][0]["code"], "NOT_FOUND");
    let (status, body) = app
        .gql_as(
            Some(&app.key),
            "{ payments(after: \"garbage\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_CURSOR");
    let (_, body) = app
        .gql_as(
            Some(&app.key),
            "{ payments(first: 500) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_PAGE_SIZE");
    let (status, body) = app.gql_as(Some(&app.key), "{ nope }", json!({})).await;
    assert_eq!(status, 200);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nope")
    );
}
on_both_backends!(malformed_ids_and_cursors_are_clear_errors);
