//! API keys, modes and merchant isolation.
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

const MERCHANT: &str = "{ merchant { id name mode } }";

async fn requests_without_a_valid_key_are_unauthenticated(app: TestApp) {
    for key in [None, Some("sk_test_nope"), Some("Basic abc"), Some("")] {
        let (status, body) = app.gql_as(key, MERCHANT, json!({})).await;
        assert_eq!(status, 401, "{key:?}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
    let (status, body) = app.gql_as(Some(&app.key), MERCHANT, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["merchant"]["mode"], "TEST");
}
on_both_backends!(requests_without_a_valid_key_are_unauthenticated);

async fn a_new_key_is_shown_once_listed_masked_and_revocable(app: TestApp) {
    let data = app
        .gql("mutation { createApiKey(input: {mode: TEST}) { apiKey { id prefix last4 } secret errors { code } } }", json!({}))
        .await;
    let secret = data["createApiKey"]["secret"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("sk_test_") && secret.len() >= 50,
        "{secret}"
    );
    let id = data["createApiKey"]["apiKey"]["id"].clone();
    assert_eq!(
        data["createApiKey"]["apiKey"]["last4"],
        secret[secret.len() - 4..]
    );
    let (status, _) = app.gql_as(Some(&secret), MERCHANT, json!({})).await;
    assert_eq!(status, 200);

    let listed = app
        .gql("{ apiKeys { id prefix last4 revokedAt } }", json!({}))
        .await;
    assert_eq!(listed["apiKeys"].as_array().unwrap().len(), 3);
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is never listed"
    );

    app.gql("mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { revokedAt } errors { code } } }", json!({"i": {"id": id}}))
        .await;
    let (status, body) = app.gql_as(Some(&secret), MERCHANT, json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    // Only the hash is stored.
    use sea_orm::{EntityTrait, QuerySelect};
    let hashes: Vec<String> = entity::api_key::Entity::find()
        .select_only()
        .column(entity::api_key::Column::KeyHash)
        .into_tuple()
        .all(&app.gw.db)
        .await
        .unwrap();
    assert!(hashes.iter().all(|h| h.len() == 64 && !h.contains(&secret)));
}
on_both_backends!(a_new_key_is_shown_once_listed_masked_and_revocable);

async fn another_merchant_and_the_other_mode_see_not_found(app: TestApp) {
    let c = app.customer_with_card("4242424242424242").await;
    let id = app.charge(&c, 100, "AUTOMATIC", None).await["payment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = service::merchants::create_merchant(&app.gw.db, "Other")
        .await
        .unwrap();
    for key in [other.test_key.expose(), app.live_key.as_str()] {
        let (_, body) = app
            .gql_as(
                Some(key),
                "query($id: ID!) { payment(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{body}"
        );
        let (_, missing) = app
            .gql_as(
                Some(key),
                "query($id: ID!) { payment(id: $id) { id } }",
                json!({"id": uuid::Uuid::now_v7()}),
            )
            .await;
        assert_eq!(
            missing["errors"][0]["message"], body["errors"][0]["message"],
            "indistinguishable from a missing id"
        );
        let (_, body) = app
            .gql_as(
                Some(key),
                "mutation($i: AmountInput!) { refundPayment: capturePayment(input: $i) { payment { id } errors { code } } }",
                json!({"i": {"id": id}}),
            )
            .await;
        assert_eq!(
            body["data"]["refundPayment"]["errors"][0]["code"],
            "NOT_FOUND"
        );
        let (_, body) = app
            .gql_as(
                Some(key),
                "{ payments { totalCount } customers { totalCount } }",
                json!({}),
            )
            .await;
        assert_eq!(body["data"]["payments"]["totalCount"], 0);
        assert_eq!(body["data"]["customers"]["totalCount"], 0);
    }
}
on_both_backends!(another_merchant_and_the_other_mode_see_not_found);

async fn test_cards_are_refused_with_a_live_key(app: TestApp) {
    let (_, body) = app
        .gql_as(
            Some(&app.live_key),
            "mutation { createCustomer(input: {name: \"L\"}) { customer { id } } }",
            json!({}),
        )
        .await;
    let c = body["data"]["createCustomer"]["customer"]["id"].clone();
    let (_, body) = app
        .gql_as(
            Some(&app.live_key),
            "mutation($i: AddTestCardInput!) { addTestCard(input: $i) { paymentMethod { id } errors { code } } }",
            json!({"i": {"customerId": c, "number": "4242424242424242", "expMonth": 12, "expYear": 2030}}),
        )
        .await;
    assert_eq!(
        body["data"]["addTestCard"]["errors"][0]["code"],
        "FORBIDDEN"
    );
}
on_both_backends!(test_cards_are_refused_with_a_live_key);

async fn stored_cards_show_brand_and_last4_never_the_number(app: TestApp) {
    let c = app.create_customer().await;
    let first = app.add_card(&c, "4242424242424242").await;
    let second = app.add_card(&c, "5555555555554444").await;
    let q = "query($id: ID!) { customer(id: $id) { paymentPreferences { paymentMethods { id brand last4 isDefault } defaultPaymentMethod { id } } } }";
    let data = app.gql(q, json!({"id": c})).await;
    let prefs = &data["customer"]["paymentPreferences"];
    assert_eq!(prefs["defaultPaymentMethod"]["id"], first.as_str());
    assert_eq!(prefs["paymentMethods"][1]["brand"], "mastercard");
    app.gql("mutation($i: PaymentMethodInput!) { setDefaultPaymentMethod(input: $i) { errors { code } } }", json!({"i": {"id": second}}))
        .await;
    let data = app.gql(q, json!({"id": c})).await;
    assert_eq!(
        data["customer"]["paymentPreferences"]["defaultPaymentMethod"]["id"],
        second.as_str()
    );
    app.gql(
        "mutation($i: PaymentMethodInput!) { removePaymentMethod(input: $i) { errors { code } } }",
        json!({"i": {"id": second}}),
    )
    .await;
    let data = app.gql(q, json!({"id": c})).await;
    assert_eq!(
        data["customer"]["paymentPreferences"]["defaultPaymentMethod"]["id"],
        first.as_str()
    );
    assert_eq!(
        data["customer"]["paymentPreferences"]["paymentMethods"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    use sea_orm::{ConnectionTrait, Statement};
    for table in ["payment_methods", "idempotency_keys", "events", "jobs"] {
        let rows = app
            .gw
            .db
            .query_all_raw(Statement::from_string(
                app.gw.db.get_database_backend(),
                format!("SELECT * FROM {table}"),
            ))
            .await
            .unwrap();
        let dump = format!("{rows:?}");
        assert!(
            !dump.contains("4242424242424242") && !dump.contains("5555555555554444"),
            "card number in {table}"
        );
    }
}
on_both_backends!(stored_cards_show_brand_and_last4_never_the_number);
