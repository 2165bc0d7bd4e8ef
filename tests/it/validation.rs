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

/// A document is validated in full until it has passed once; one that declares no
/// variables is then run by a schema that checks only the limits again (`parsed` in the
/// API). Every document answers the same the first time and after, through either schema:
/// good ones, ones that fail a rule (never noted), ones whose field fails, and ones whose
/// variables are bad (validated every time).
async fn a_document_answers_the_same_however_often_it_is_sent(app: TestApp) {
    app.gql(
        "mutation { createPayment(input: {amount: 250, currency: \"EUR\"}) { errors { code } } }",
        json!({}),
    )
    .await;
    let documents = [
        (
            "{ payments(first: 2) { edges { node { amount currency } } } }",
            json!({}),
        ),
        ("{ payments(first: \"two\") { totalCount } }", json!({})),
        ("{ payments { edges { node { nope } } } }", json!({})),
        ("{ payment(id: \"not-a-uuid\") { id } }", json!({})),
        (
            "query($n: Int) { payments(first: $n) { totalCount } }",
            json!({"n": "many"}),
        ),
        (
            "query($n: Int) { payments(first: $n) { totalCount } }",
            json!({"n": 1}),
        ),
    ];
    for (query, variables) in &documents {
        let first = app.gql_as(Some(&app.key), query, variables.clone()).await;
        for _ in 0..2 {
            let again = app.gql_as(Some(&app.key), query, variables.clone()).await;
            assert_eq!(again, first, "{query} {variables}");
        }
    }
    let (_, page) = app.gql_as(Some(&app.key), documents[0].0, json!({})).await;
    assert_eq!(
        page["data"]["payments"]["edges"][0]["node"],
        json!({"amount": 250, "currency": "EUR"})
    );
    let (_, bad) = app.gql_as(Some(&app.key), documents[1].0, json!({})).await;
    assert!(bad["data"].is_null(), "{bad}");
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("first"),
        "{bad}"
    );
    // A mutation without variables runs again each time it is sent once it has passed.
    let create = "mutation { createPayment(input: {amount: 7, currency: \"EUR\"}) { payment { id } errors { code } } }";
    let ids: Vec<_> = futures::future::join_all((0..3).map(|_| app.gql(create, json!({}))))
        .await
        .into_iter()
        .map(|d| d["createPayment"]["payment"]["id"].clone())
        .collect();
    assert!(ids.iter().all(|id| id.is_string()), "{ids:?}");
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );
}
on_both_backends!(a_document_answers_the_same_however_often_it_is_sent);
