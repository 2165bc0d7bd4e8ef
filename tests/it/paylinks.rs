//! Paylinks over GraphQL and the hosted checkout page, driven over plain HTTP (the browser
//! tests drive the same pages in Chromium).
use std::time::Duration;

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::TestApp;

const CREATE: &str = "mutation($i: CreatePaylinkInput!) { createPaylink(input: $i) { paylink { id code url status total vatTotal currency purchaseFlow paymentOptionsMask paymentOptions { type } items { description price vat quantity total vatAmount } } errors { code field message } } }";

pub async fn paylink(app: &TestApp, extra: Value) -> Value {
    let mut input = json!({
        "title": "Concert tickets",
        "items": [{"description": "Ticket", "price": 12500, "vat": 2500, "quantity": 2, "currency": "NOK"}],
    });
    if let (Some(base), Some(more)) = (input.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            base.insert(k.clone(), v.clone());
        }
    }
    let data = app.gql(CREATE, json!({"i": input})).await;
    data["createPaylink"].clone()
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Opens a hosted page as a browser would (no redirects followed): (status, body).
pub async fn get_page(url: &str) -> (u16, String) {
    let res = browser().get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Posts the card form of a hosted page; returns (status, Location header, body).
pub async fn post_form(url: &str, fields: &[(&str, &str)]) -> (u16, Option<String>, String) {
    let res = browser().post(url).form(fields).send().await.unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (status, location, res.text().await.unwrap())
}

pub fn card(number: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", "Ada Lovelace".into()),
        ("number", number.into()),
        ("expiry", "12/49".into()),
        ("cvc", "123".into()),
        ("action", "pay".into()),
    ]
}

pub fn fields<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn a_paylink_totals_its_items_and_defaults_to_card(app: TestApp) {
    let r = paylink(&app, json!({"clientReference": "order-7"})).await;
    assert_eq!(r["errors"], json!([]));
    let l = &r["paylink"];
    assert_eq!(l["status"], "AVAILABLE");
    assert_eq!(l["total"], 25000);
    assert_eq!(l["vatTotal"], 5000);
    assert_eq!(l["items"][0]["vatAmount"], 5000);
    assert_eq!(l["currency"], "NOK");
    assert_eq!(l["purchaseFlow"], "DIRECT");
    assert_eq!(l["paymentOptionsMask"], 2);
    assert_eq!(l["paymentOptions"], json!([{"type": "CARD"}]));
    assert!(
        l["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/pay/{}", l["code"].as_str().unwrap()))
    );
    let listed = app.gql("{ paylinks(filter: {status: AVAILABLE, clientReference: \"order-7\"}) { totalCount } }", json!({})).await;
    assert_eq!(listed["paylinks"]["totalCount"], 1);
}
on_both_backends!(a_paylink_totals_its_items_and_defaults_to_card);

async fn bad_paylinks_name_every_failing_field(app: TestApp) {
    let data = app
        .gql(
            CREATE,
            json!({"i": {
                "items": [
                    {"description": "A", "price": 100, "vat": 2500, "currency": "EUR"},
                    {"description": "B", "price": 100, "vat": 12000, "currency": "EUR"},
                    {"price": 100, "vat": 0, "currency": "EUR"},
                    {"productId": "00000000-0000-7000-8000-000000000000", "currency": "EUR"},
                ],
                "expiresAt": "2001-01-01T00:00:00Z",
                "redirectUri": "javascript:alert(1)",
                "cancelUri": "https://shop.example/\"x",
                "buyerCustomerId": "00000000-0000-7000-8000-000000000001",
                "paymentOptions": [{"type": "PROVIDED", "url": "https://v.example"}],
            }}),
        )
        .await;
    let errors = data["createPaylink"]["errors"].as_array().unwrap().clone();
    let got: Vec<(String, String)> = errors
        .iter()
        .map(|e| {
            (
                e["code"].as_str().unwrap().to_string(),
                e["field"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("."),
            )
        })
        .collect();
    for want in [
        ("REQUIRED", "input.title"),
        ("INVALID_VAT_RATE", "input.items.1.vat"),
        ("REQUIRED", "input.items.2.description"),
        ("UNKNOWN_PRODUCT", "input.items.3.productId"),
        ("EXPIRY_IN_PAST", "input.expiresAt"),
        ("INVALID_URL", "input.redirectUri"),
        ("INVALID_URL", "input.cancelUri"),
        ("UNKNOWN_BUYER", "input.buyerCustomerId"),
        ("REQUIRED", "input.paymentOptions.0.subType"),
    ] {
        assert!(
            got.contains(&(want.0.to_string(), want.1.to_string())),
            "missing {want:?} in {got:?}"
        );
    }
    assert!(data["createPaylink"]["paylink"].is_null());
    let mixed = paylink(
        &app,
        json!({"items": [{"description": "A", "price": 1, "vat": 0, "currency": "EUR"}, {"description": "B", "price": 1, "vat": 0, "currency": "SEK"}]}),
    )
    .await;
    assert_eq!(mixed["errors"][0]["code"], "MIXED_CURRENCIES");
}
on_both_backends!(bad_paylinks_name_every_failing_field);

async fn items_inherit_from_products_and_the_mask_maps_to_options(app: TestApp) {
    let data = app
        .gql(
            "mutation { createProduct(input: {name: \"Mug\", description: \"A blue mug\", price: 9900, vat: 2500, currency: \"SEK\"}) { product { id } errors { code } } }",
            json!({}),
        )
        .await;
    let product = data["createProduct"]["product"]["id"].clone();
    let r = paylink(
        &app,
        json!({"items": [{"productId": product, "quantity": 3}, {"productId": product, "description": "Gift wrap", "price": 500}], "paymentOptionsMask": 2 + 8 + 128}),
    )
    .await;
    assert_eq!(r["errors"], json!([]), "{r}");
    let l = &r["paylink"];
    assert_eq!(l["currency"], "SEK");
    assert_eq!(l["items"][0]["description"], "A blue mug");
    assert_eq!(l["items"][0]["total"], 29700);
    assert_eq!(l["items"][1]["price"], 500);
    assert_eq!(l["items"][1]["vat"], 2500);
    assert_eq!(l["total"], 30200);
    let kinds: Vec<_> = l["paymentOptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].clone())
        .collect();
    assert_eq!(
        kinds,
        vec![json!("CARD"), json!("INVOICE"), json!("WALLET")]
    );
}
on_both_backends!(items_inherit_from_products_and_the_mask_maps_to_options);

async fn paying_a_paylink_redirects_with_the_payment_and_uses_the_link(app: TestApp) {
    let r = paylink(
        &app,
        json!({"redirectUri": "https://shop.example/done?x=1"}),
    )
    .await;
    let url = r["paylink"]["url"].as_str().unwrap().to_string();
    let page = browser().get(&url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Concert tickets")
            && html.contains("250.00 NOK")
            && html.contains("50.00 NOK")
    );
    assert!(html.contains("<label for=\"number\">"));

    // Bad fields are shown by their fields, typed values kept, the number never echoed.
    let mut bad = card("4242424242424241");
    bad[2].1 = "13/49".into();
    let (status, _, body) = post_form(&url, &fields(&bad)).await;
    assert_eq!(status, 422);
    assert!(body.contains("id=\"number-error\"") && body.contains("id=\"expiry-error\""));
    assert!(body.contains("value=\"Ada Lovelace\""));
    assert!(!body.contains("4242424242424241"));

    // A declined card shows the error; the buyer tries another card.
    let (status, _, body) = post_form(&url, &fields(&card("4000000000000002"))).await;
    assert_eq!(status, 402);
    assert!(body.contains("declined"));
    let (status, location, _) = post_form(&url, &fields(&card("4242424242424242"))).await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(
        location.starts_with("https://shop.example/done?x=1&paymentId="),
        "{location}"
    );
    assert!(location.ends_with("&status=PAID"));

    let l = app
        .gql(
            "query($id: ID!) { paylink(id: $id) { status payments { status errorCode amount capturedAmount operations { status errorCode } } } }",
            json!({"id": r["paylink"]["id"]}),
        )
        .await;
    assert_eq!(l["paylink"]["status"], "USED");
    let p = &l["paylink"]["payments"][0];
    assert_eq!(p["status"], "PAID");
    assert!(
        p["errorCode"].is_null(),
        "the earlier decline no longer describes the payment"
    );
    assert_eq!(p["capturedAmount"], 25000);
    assert_eq!(p["operations"][0]["errorCode"], "CARD_DECLINED");
    assert_eq!(p["operations"][1]["status"], "SUCCEEDED");
    // A used link is gone.
    assert_eq!(
        browser().get(&url).send().await.unwrap().status().as_u16(),
        410
    );
    let deleted = app
        .gql(
            "mutation($i: DeletePaylinkInput!) { deletePaylink(input: $i) { errors { code } } }",
            json!({"i": {"id": r["paylink"]["id"]}}),
        )
        .await;
    assert_eq!(
        deleted["deletePaylink"]["errors"][0]["code"],
        "INVALID_STATE"
    );

    // No card number anywhere in the database.
    use sea_orm::{ConnectionTrait, Statement};
    for table in [
        "payments",
        "payment_methods",
        "operations",
        "events",
        "jobs",
        "idempotency_keys",
        "status_history",
    ] {
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
            !dump.contains("4242424242424242") && !dump.contains("4000000000000002"),
            "a card number in {table}"
        );
    }
}
on_both_backends!(paying_a_paylink_redirects_with_the_payment_and_uses_the_link);

async fn an_authorize_paylink_holds_and_is_captured_over_graphql(app: TestApp) {
    let r = paylink(&app, json!({"purchaseFlow": "AUTHORIZE"})).await;
    let url = r["paylink"]["url"].as_str().unwrap().to_string();
    let (status, location, _) = post_form(&url, &fields(&card("4242424242424242"))).await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(
        location.contains("/receipt?payment="),
        "no redirectUri: a receipt page, got {location}"
    );
    let id = location.rsplit('=').next().unwrap();
    app.wait_for_status(id, "HOLD", Duration::from_secs(30))
        .await;
    let receipt = browser()
        .get(format!("{}{location}", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(receipt.contains("Payment authorized"));
    let c = app
        .payment_mutation("capturePayment", json!({"id": id}))
        .await;
    assert_eq!(c["payment"]["status"], "PAID");
}
on_both_backends!(an_authorize_paylink_holds_and_is_captured_over_graphql);

async fn cancel_goes_to_the_cancel_uri_and_expired_links_are_gone(app: TestApp) {
    let r = paylink(&app, json!({"cancelUri": "https://shop.example/cart"})).await;
    let url = r["paylink"]["url"].as_str().unwrap().to_string();
    let (status, location, _) = post_form(&url, &[("action", "cancel")]).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("https://shop.example/cart"))
    );

    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(600)).to_rfc3339();
    let r = paylink(&app, json!({"expiresAt": soon})).await;
    let id = r["paylink"]["id"].clone();
    let url = r["paylink"]["url"].as_str().unwrap().to_string();
    // The scheduled job marks it EXPIRED.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let l = app
            .gql(
                "query($id: ID!) { paylink(id: $id) { status } }",
                json!({"id": id}),
            )
            .await;
        if l["paylink"]["status"] == "EXPIRED" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = browser().get(&url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 410);
    assert!(page.text().await.unwrap().contains("expired"));
    let (status, _, _) = post_form(&url, &fields(&card("4242424242424242"))).await;
    assert_eq!(status, 410);
}
on_both_backends!(cancel_goes_to_the_cancel_uri_and_expired_links_are_gone);

async fn a_remembered_card_pays_the_next_charge_customer(app: TestApp) {
    let customer = app.create_customer().await;
    let r = paylink(&app, json!({"buyerCustomerId": customer})).await;
    let url = r["paylink"]["url"].as_str().unwrap().to_string();
    assert!(
        url.contains("?buyer="),
        "a buyer-locked link carries its token"
    );
    let bare = url.split('?').next().unwrap();
    assert_eq!(
        browser().get(bare).send().await.unwrap().status().as_u16(),
        403
    );
    assert_eq!(
        browser()
            .get(format!("{bare}?buyer=forged"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    assert_eq!(
        browser().get(&url).send().await.unwrap().status().as_u16(),
        200
    );

    let token = url.split("buyer=").nth(1).unwrap().to_string();
    let mut form = card("4242424242424242");
    form.push(("remember", "yes".into()));
    form.push(("buyer", token));
    let (status, _, _) = post_form(bare, &fields(&form)).await;
    assert_eq!(status, 303);
    let next = app.charge(&customer, 700, "AUTOMATIC", None).await;
    assert_eq!(next["payment"]["status"], "PAID", "{next}");

    // The next buyer-locked link offers the stored card.
    let r = paylink(&app, json!({"buyerCustomerId": customer})).await;
    let html = browser()
        .get(r["paylink"]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("ending in 4242"));
}
on_both_backends!(a_remembered_card_pays_the_next_charge_customer);

async fn a_created_payment_is_paid_on_its_checkout_page(app: TestApp) {
    let data = app
        .gql(
            "mutation { createPayment(input: {amount: 4500, currency: \"EUR\", description: \"Invoice 12\", forceRecurring: true}) { payment { id checkoutUrl expiresAt } errors { code } } }",
            json!({}),
        )
        .await;
    let p = &data["createPayment"]["payment"];
    let url = p["checkoutUrl"].as_str().unwrap().to_string();
    let expires: chrono::DateTime<chrono::Utc> = p["expiresAt"].as_str().unwrap().parse().unwrap();
    assert!(
        expires > chrono::Utc::now() + chrono::Duration::days(30),
        "31 days by default"
    );
    let html = get_page(&url).await.1;
    assert!(html.contains("Invoice 12") && html.contains("45.00 EUR"));
    let (status, location, _) = post_form(&url, &fields(&card("4242424242424242"))).await;
    assert_eq!(status, 303, "{location:?}");
    let paid = app
        .gql(
            "query($id: ID!) { payment(id: $id) { status customerId } }",
            json!({"id": p["id"]}),
        )
        .await;
    assert_eq!(paid["payment"]["status"], "PAID");
    // forceRecurring stored the card on a customer.
    let c = paid["payment"]["customerId"].as_str().unwrap().to_string();
    assert_eq!(
        app.charge(&c, 100, "AUTOMATIC", None).await["payment"]["status"],
        "PAID"
    );
    assert_eq!(
        browser().get(&url).send().await.unwrap().status().as_u16(),
        410
    );
}
on_both_backends!(a_created_payment_is_paid_on_its_checkout_page);

/// Follows the hosted page to the simulator's 3-D Secure page, decides, and comes back.
async fn three_ds(url: &str, decision: &str) -> (u16, Option<String>, String) {
    let (status, challenge, _) = post_form(url, &fields(&card("4000000000003220"))).await;
    assert_eq!(status, 303);
    let challenge = challenge.unwrap();
    assert!(
        challenge.contains("/3ds/auth_"),
        "to the challenge page: {challenge}"
    );
    let page = browser()
        .get(&challenge)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"approve\"") && page.contains("id=\"deny\""));
    let back = browser()
        .post(&challenge)
        .form(&[("decision", decision)])
        .send()
        .await
        .unwrap();
    assert_eq!(back.status().as_u16(), 303);
    let back = back.headers()["location"].to_str().unwrap().to_string();
    assert!(back.contains("/3ds?"), "back to the gateway: {back}");
    let res = browser().get(&back).send().await.unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (status, location, res.text().await.unwrap())
}

async fn three_d_secure_approve_pays_and_deny_lets_the_buyer_retry(app: TestApp) {
    let r = paylink(&app, json!({"redirectUri": "https://shop.example/done"})).await;
    let url = r["paylink"]["url"].as_str().unwrap().to_string();
    let (status, _, body) = three_ds(&url, "deny").await;
    assert_eq!(status, 402);
    assert!(body.contains("authentication failed"), "{body}");
    let (status, location, _) = three_ds(&url, "approve").await;
    assert_eq!(status, 303);
    assert!(location.unwrap().ends_with("status=PAID"));
    let l = app
        .gql(
            "query($id: ID!) { paylink(id: $id) { status payments { status } } }",
            json!({"id": r["paylink"]["id"]}),
        )
        .await;
    assert_eq!(l["paylink"]["status"], "USED");
    assert_eq!(
        app.acquirer_effects().await,
        1,
        "the denied attempt never reached the acquirer's money path"
    );
}
on_both_backends!(three_d_secure_approve_pays_and_deny_lets_the_buyer_retry);

async fn a_failed_charge_falls_back_to_a_paylink_that_remembers_the_card(app: TestApp) {
    let customer = app.create_customer().await;
    let q = "mutation($i: ChargeCustomerInput!) { chargeCustomer(input: $i) { payment { id status errorCode } paylink { id url total buyerCustomerId items { description price quantity } } errors { code message } } }";
    let input = json!({"customerId": customer, "currency": "EUR", "fallbackToPaylink": true, "description": "Annual plan",
                       "items": [{"name": "Plan", "unitPrice": 9900, "vatRate": 2500, "quantity": 1}]});
    let r = app.gql(q, json!({"i": input})).await["chargeCustomer"].clone();
    assert_eq!(r["errors"][0]["code"], "NO_PAYMENT_METHOD");
    assert!(r["payment"].is_null());
    assert_eq!(r["paylink"]["total"], 9900);
    assert_eq!(r["paylink"]["buyerCustomerId"], customer.as_str());
    let url = r["paylink"]["url"].as_str().unwrap().to_string();
    let (bare, token) = url.split_once("?buyer=").unwrap();
    let mut form = card("4242424242424242");
    form.push(("remember", "yes".into()));
    form.push(("buyer", token.to_string()));
    let (status, _, _) = post_form(bare, &fields(&form)).await;
    assert_eq!(status, 303);
    let again = app.gql(q, json!({"i": input})).await["chargeCustomer"].clone();
    assert_eq!(again["payment"]["status"], "PAID", "{again}");
    assert!(again["paylink"].is_null());

    // A declined stored card: the failed payment, its error, and a paylink.
    let other = app.customer_with_card("4000000000000002").await;
    let r = app
        .gql(q, json!({"i": {"customerId": other, "amount": 500, "currency": "EUR", "fallbackToPaylink": true}}))
        .await["chargeCustomer"]
        .clone();
    assert_eq!(r["payment"]["status"], "ERROR");
    assert_eq!(r["errors"][0]["code"], "CARD_DECLINED");
    assert_eq!(r["paylink"]["total"], 500);
    // Paying that paylink with a remembered card makes it the default for the next charge.
    let url = r["paylink"]["url"].as_str().unwrap().to_string();
    let (bare, token) = url.split_once("?buyer=").unwrap();
    let mut form = card("4242424242424242");
    form.push(("remember", "yes".into()));
    form.push(("buyer", token.to_string()));
    assert_eq!(post_form(bare, &fields(&form)).await.0, 303);
    let next = app.charge(&other, 500, "AUTOMATIC", None).await;
    assert_eq!(next["payment"]["status"], "PAID", "{next}");
}
on_both_backends!(a_failed_charge_falls_back_to_a_paylink_that_remembers_the_card);
