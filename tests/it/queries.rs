//! payment(id) and payments(first, after, filter).
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

async fn payments_are_paged_newest_first_and_filtered(app: TestApp) {
    let c = app.customer_with_card("4242424242424242").await;
    let mut ids = vec![];
    for i in 0..5 {
        let mode = if i % 2 == 0 { "AUTOMATIC" } else { "MANUAL" };
        ids.push(
            app.charge(&c, 100 + i, mode, None).await["payment"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    app.gql(
        "mutation { createPayment(input: {amount: 5, currency: \"EUR\", clientReference: \"ref-9\"}) { errors { code } } }",
        json!({}),
    )
    .await;
    let q = "query($f: PaymentsFilter, $after: String) { payments(first: 2, after: $after, filter: $f) { totalCount edges { cursor node { id status amount } } pageInfo { hasNextPage endCursor } } }";
    let page = app.gql(q, json!({"f": {"status": ["PAID"]}})).await;
    assert_eq!(page["payments"]["totalCount"], 3);
    let got: Vec<_> = page["payments"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].clone())
        .collect();
    assert_eq!(got, vec![json!(ids[4]), json!(ids[2])]);
    assert_eq!(page["payments"]["pageInfo"]["hasNextPage"], true);
    let next = app
        .gql(
            q,
            json!({"f": {"status": ["PAID"]}, "after": page["payments"]["pageInfo"]["endCursor"]}),
        )
        .await;
    let got: Vec<_> = next["payments"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].clone())
        .collect();
    assert_eq!(got, vec![json!(ids[0])]);
    assert_eq!(next["payments"]["pageInfo"]["hasNextPage"], false);

    let held = app
        .gql(q, json!({"f": {"status": ["HOLD"], "customerId": c}}))
        .await;
    assert_eq!(held["payments"]["totalCount"], 2);
    let by_ref = app.gql(q, json!({"f": {"clientReference": "ref-9"}})).await;
    assert_eq!(by_ref["payments"]["totalCount"], 1);
    let all = app
        .gql(
            "{ payments { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(all["payments"]["totalCount"], 6);
    let future = app
        .gql(q, json!({"f": {"createdAfter": "2999-01-01T00:00:00Z"}}))
        .await;
    assert_eq!(future["payments"]["totalCount"], 0);
}
on_both_backends!(payments_are_paged_newest_first_and_filtered);

async fn a_payment_shows_items_operations_and_history(app: TestApp) {
    let c = app.customer_with_card("4242424242424242").await;
    let data = app
        .gql(
            "mutation($i: ChargeCustomerInput!) { chargeCustomer(input: $i) { payment { id } errors { code } } }",
            json!({"i": {"customerId": c, "currency": "SEK", "clientReference": "cart-7",
                   "items": [{"name": "Tea", "unitPrice": 4900, "vatRate": 1200, "quantity": 3}]}}),
        )
        .await;
    let id = data["chargeCustomer"]["payment"]["id"].as_str().unwrap();
    let p = app.payment(id).await;
    assert_eq!(p["amount"], 14700);
    assert_eq!(p["currency"], "SEK");
    assert_eq!(p["clientReference"], "cart-7");
    assert_eq!(p["items"][0]["total"], 14700);
    assert_eq!(p["items"][0]["vatAmount"], 1575);
    assert_eq!(p["operations"].as_array().unwrap().len(), 1);
    assert_eq!(
        p["statusHistory"].as_array().unwrap().last().unwrap()["status"],
        "PAID"
    );
}
on_both_backends!(a_payment_shows_items_operations_and_history);
