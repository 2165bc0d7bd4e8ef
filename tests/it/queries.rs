//! payment(id) and payments(first, after, filter).
use std::time::Duration;

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
    let page = answered_twice(&app, q, json!({"f": {"status": ["PAID"]}})).await;
    assert_eq!(page["payments"]["totalCount"], 3);
    let got: Vec<_> = page["payments"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].clone())
        .collect();
    assert_eq!(got, vec![json!(ids[4]), json!(ids[2])]);
    assert_eq!(page["payments"]["pageInfo"]["hasNextPage"], true);
    let next = answered_twice(
        &app,
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

    let held = answered_twice(&app, q, json!({"f": {"status": ["HOLD"], "customerId": c}})).await;
    assert_eq!(held["payments"]["totalCount"], 2);
    let both = answered_twice(
        &app,
        q,
        json!({"f": {"status": ["HOLD", "PAID"], "customerId": c}}),
    )
    .await;
    assert_eq!(both["payments"]["totalCount"], 5);
    let by_ref = answered_twice(&app, q, json!({"f": {"clientReference": "ref-9"}})).await;
    assert_eq!(by_ref["payments"]["totalCount"], 1);
    let all = app
        .gql(
            "{ payments { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(all["payments"]["totalCount"], 6);
    let future = answered_twice(
        &app,
        q,
        json!({"f": {"createdAfter": "2999-01-01T00:00:00Z"}}),
    )
    .await;
    assert_eq!(future["payments"]["totalCount"], 0);
    let past = answered_twice(
        &app,
        q,
        json!({"f": {"createdBefore": "2999-01-01T00:00:00Z"}}),
    )
    .await;
    assert_eq!(past["payments"]["totalCount"], 6);
    // Without totalCount, as most pages are asked for: the same edges.
    let narrow = "query($f: PaymentsFilter) { payments(first: 2, filter: $f) { edges { node { id status amount } } } }";
    let edges = answered_twice(&app, narrow, json!({"f": {"status": ["PAID"]}})).await;
    assert_eq!(
        edges["payments"]["edges"],
        json!(
            page["payments"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| json!({"node": e["node"]}))
                .collect::<Vec<_>>()
        )
    );
}

/// The answer to `query`, asked twice: the second time a page's statement is one kept from
/// the first (`service::payments::page_sql`); both answers must be the same.
async fn answered_twice(
    app: &TestApp,
    query: &str,
    variables: serde_json::Value,
) -> serde_json::Value {
    let first = app.gql(query, variables.clone()).await;
    let second = app.gql(query, variables).await;
    assert_eq!(first, second, "{query}");
    first
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

/// The service reads payments by column position on PostgreSQL (faster than by name): a
/// payment with every column set, and one with every optional column empty, read through
/// `payments::get` and `payments::list` equal the same rows read by name.
async fn payments_read_by_position_equal_payments_read_by_name(app: TestApp) {
    use chrono::Duration;
    use entity::payment;
    use sea_orm::EntityTrait;
    use service::merchants::Caller;
    use service::page::PageRequest;
    use service::payments::{self, PaymentFilter};

    let merchant_id = test_merchant(&app).await;
    let full = every_column_set(merchant_id, service::db::now() - Duration::minutes(11));
    let at = |minutes: i64| service::db::now() - Duration::minutes(minutes);
    let empty = payment::Model {
        id: uuid::Uuid::now_v7(),
        customer_id: None,
        payment_method_id: None,
        client_reference: None,
        description: None,
        metadata: None,
        acquirer_reference: None,
        error_code: None,
        error_message: None,
        paylink_id: None,
        checkout_code: None,
        checkout_expires_at: None,
        return_url: None,
        commission_percent: None,
        due_at: None,
        sent_at: None,
        viewed_at: None,
        authorized_at: None,
        paid_at: None,
        cleared_at: None,
        settled_at: None,
        created_at: at(13),
        ..full.clone()
    };
    for row in [&full, &empty] {
        insert_payment(&app, row).await;
    }
    let caller = Caller::system(merchant_id, "test");
    for row in [&full, &empty] {
        let by_name = payment::Entity::find_by_id(row.id)
            .one(&app.gw.db)
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(&by_name, row, "stored as built");
        let got = payments::get(&app.gw, &caller, row.id).await.expect("get");
        assert_eq!(&got, row);
    }
    let page = payments::list(
        &app.gw,
        &caller,
        &PaymentFilter::default(),
        PageRequest::new(Some(10), None).unwrap(),
        payments::Columns::ALL,
    )
    .await
    .expect("list");
    let listed: Vec<_> = page.items.into_iter().map(|(_, p)| *p).collect();
    assert_eq!(listed, vec![full, empty], "newest first, as stored");
}
on_both_backends!(payments_read_by_position_equal_payments_read_by_name);

/// Stores `payment` as it is, every column as set.
async fn insert_payment(app: &TestApp, payment: &entity::payment::Model) {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    payment
        .clone()
        .into_active_model()
        .reset_all()
        .insert(&app.gw.db)
        .await
        .expect("insert the payment");
}

async fn test_merchant(app: &TestApp) -> uuid::Uuid {
    use sea_orm::EntityTrait;
    entity::merchant::Entity::find()
        .one(&app.gw.db)
        .await
        .unwrap()
        .expect("the test merchant")
        .id
}

/// A test-mode payment of `merchant_id` with every column set, each to a value of its own,
/// created at `created_at` (its other times are before it).
fn every_column_set(
    merchant_id: uuid::Uuid,
    created_at: chrono::DateTime<chrono::Utc>,
) -> entity::payment::Model {
    let at = |minutes: i64| created_at - chrono::Duration::minutes(minutes);
    entity::payment::Model {
        id: uuid::Uuid::now_v7(),
        merchant_id,
        mode: "test".into(),
        customer_id: Some(uuid::Uuid::now_v7()),
        payment_method_id: Some(uuid::Uuid::now_v7()),
        status: "PAID".into(),
        currency: "EUR".into(),
        amount: 10_001,
        vat_amount: 1_002,
        capture_method: "MANUAL".into(),
        client_reference: Some("ref-1".into()),
        description: Some("description".into()),
        metadata: Some(json!({"order": 7, "tags": ["a", "b"]})),
        authorized_amount: 10_003,
        captured_amount: 10_004,
        released_amount: 5,
        refunded_amount: 6,
        acquirer_reference: Some("acq-1".into()),
        error_code: Some("E1".into()),
        error_message: Some("message".into()),
        paylink_id: Some(uuid::Uuid::now_v7()),
        checkout_code: Some("code-1".into()),
        checkout_expires_at: Some(at(-1)),
        force_recurring: true,
        is_recurring_token: true,
        require_confirmation: true,
        return_url: Some("https://shop.example/back".into()),
        commission_percent: Some(7),
        refund_availability: "PARTIAL_ONLY".into(),
        due_at: Some(at(2)),
        due_strict: true,
        sent_at: Some(at(3)),
        viewed_at: Some(at(4)),
        authorized_at: Some(at(5)),
        paid_at: Some(at(6)),
        cleared_at: Some(at(7)),
        settled_at: Some(at(8)),
        chargeback_amount: 9,
        event_sequence: 10,
        created_at,
        updated_at: at(-2),
    }
}

/// Payments are decoded by position without sqlx's per-value type check only when the
/// table's columns are of the model's types: a column of another type sends the row to
/// SeaORM's checked decoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payments_are_decoded_unchecked_only_when_the_column_types_match() {
    use entity::payment;
    use sea_orm::{ConnectionTrait, DbBackend, IdenStatic, Iterable, Statement};
    let Some(app) = TestApp::on_postgres().await else {
        return;
    };
    let c = app.customer_with_card("4242424242424242").await;
    app.charge(&c, 1500, "AUTOMATIC", None).await;
    let read = |columns: Vec<String>| {
        let sql = format!("SELECT {} FROM payments LIMIT 1", columns.join(", "));
        let db = app.gw.db.clone();
        async move {
            db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
                .await
                .expect("query")
                .expect("a payment")
        }
    };
    let names = || payment::Column::iter().map(|c| c.as_str().to_string());
    let as_stored = read(names().collect()).await;
    assert!(service::payments::reads_by_position(&as_stored));
    let amount_as_text = read(
        names()
            .map(|c| match c.as_str() {
                "amount" => "amount::text AS amount".to_string(),
                _ => c,
            })
            .collect(),
    )
    .await;
    assert!(!service::payments::reads_by_position(&amount_as_text));
}

/// Every PostgreSQL connection of the pool plans a prepared statement once
/// (`plan_cache_mode`, set in `service::db::connect`): re-planning the payments page at every
/// execution cost more than running it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_connections_plan_prepared_statements_once() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let Some(app) = TestApp::on_postgres().await else {
        return;
    };
    // More at once than the pool holds, so each of its connections answers.
    let shows = (0..12).map(|_| {
        app.gw.db.query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_setting('plan_cache_mode') AS mode, pg_sleep(0.05)::text AS slept",
        ))
    });
    for row in futures::future::join_all(shows).await {
        let mode: String = row.unwrap().expect("a row").try_get("", "mode").unwrap();
        assert_eq!(mode, "force_generic_plan");
    }
}

/// The worker's batched read of operations probes the primary key once per id, even in the
/// generic plan a connection makes while the table is new, not yet analyzed, and keeps as it
/// grows.
/// (`operations.id = ANY($1)` was planned there as a scan of the whole table.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_batched_read_of_operations_probes_each_id_by_its_key() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some(app) = TestApp::on_postgres().await else {
        return;
    };
    // One connection for the PREPARE and the EXPLAIN.
    let txn = app.gw.db.begin().await.unwrap();
    txn.execute_unprepared(&format!(
        "PREPARE batched(uuid[]) AS {}",
        service::payments::operation_requests_sql()
    ))
    .await
    .unwrap();
    let ids = (0..20)
        .map(|_| format!("'{}'", uuid::Uuid::now_v7()))
        .collect::<Vec<_>>()
        .join(",");
    let plan =
        crate::support::plan_of(&txn, &format!("EXECUTE batched(ARRAY[{ids}]::uuid[])")).await;
    assert!(
        plan.contains("Index Scan using operations_pkey on operations"),
        "{plan}"
    );
    assert!(!plan.contains("Seq Scan on operations"), "{plan}");
    txn.rollback().await.unwrap();
}

/// A page of payments reads only the columns the query's fields need (`payment_columns` in
/// the API): every field of `Payment`, asked for alone in a page (and through fragments),
/// answers what it answers on the whole payment read by `payment(id)`.
async fn each_field_of_a_page_of_payments_equals_the_whole_payments(app: TestApp) {
    let merchant_id = test_merchant(&app).await;
    let full = every_column_set(merchant_id, service::db::now());
    insert_payment(&app, &full).await;
    let id = full.id.to_string();
    let fields = selections_of(&app, "Payment").await;
    assert!(fields.len() > 40, "every field of Payment: {fields:?}");
    let page_and_whole = |selection: &str| {
        format!(
            "{{ payments(first: 1, filter: {{clientReference: \"ref-1\"}}) {{ edges {{ node {{ {selection} }} }} }} payment(id: \"{id}\") {{ {selection} }} }}"
        )
    };
    for selection in &fields {
        let data = app.gql(&page_and_whole(selection), json!({})).await;
        assert_eq!(
            data["payments"]["edges"][0]["node"], data["payment"],
            "{selection} in a page and on the payment"
        );
        assert!(data["payment"].as_object().is_some_and(|p| !p.is_empty()));
    }
    // Several fields at once, some through a named and an inline fragment.
    let data = app
        .gql(
            &format!(
                "fragment F on Payment {{ amount refundableAmount }} {}",
                page_and_whole("... F ... on Payment { test paidAt } currency")
            ),
            json!({}),
        )
        .await;
    assert_eq!(data["payments"]["edges"][0]["node"], data["payment"]);
    assert_eq!(data["payment"]["amount"], 10_001);
    assert_eq!(data["payment"]["refundableAmount"], 10_004 - 6);
    assert_eq!(data["payment"]["test"], true);
}
on_both_backends!(each_field_of_a_page_of_payments_equals_the_whole_payments);

/// A page's edges are resolved field by field in place (`in_place` in the API) when every
/// field asked for answers from the row: the answer, errors included, is the one
/// async-graphql's own resolution gives, which fragments at each level bring about.
async fn a_page_resolved_in_place_answers_as_async_graphql_does(app: TestApp) {
    let merchant_id = test_merchant(&app).await;
    let now = service::db::now();
    for (i, status) in ["PAID", "NOT_A_STATUS", "HOLD"].into_iter().enumerate() {
        let mut p = every_column_set(merchant_id, now - chrono::Duration::seconds(i as i64));
        p.status = status.into();
        insert_payment(&app, &p).await;
    }
    let node = "__typename id status total: amount amount createdAt metadata checkoutUrl";
    let edge = format!("__typename cursor at: cursor node {{ {node} }}");
    let in_place = format!("{{ payments(first: 3) {{ edges {{ {edge} }} }} }}");
    let generic = format!(
        "{{ payments(first: 3) {{ edges {{ ... on PaymentEdge {{ __typename cursor at: cursor node {{ ... on Payment {{ {node} }} }} }} }} }} }}"
    );
    // An error's location is where its field stands in the query's text, which differs.
    async fn answer(app: &TestApp, query: &str) -> serde_json::Value {
        let (status, mut body) = app.gql_as(Some(&app.key), query, json!({})).await;
        assert_eq!(status, 200);
        for e in body["errors"].as_array_mut().into_iter().flatten() {
            assert!(e["locations"][0]["column"].is_u64(), "{e}");
            e["locations"].take();
        }
        body
    }
    let body = answer(&app, &in_place).await;
    assert_eq!(
        body,
        answer(&app, &generic).await,
        "in place and through fragments"
    );
    // What both answer: three edges, the bad status an error at its path.
    let edges = body["data"]["payments"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 3);
    assert_eq!(edges[0]["__typename"], "PaymentEdge");
    assert_eq!(edges[0]["at"], edges[0]["cursor"]);
    assert_eq!(edges[0]["node"]["__typename"], "Payment");
    assert_eq!(edges[0]["node"]["total"], 10_001);
    assert_eq!(edges[2]["node"]["status"], "HOLD");
    let errors = body["errors"].as_array().expect("the bad status's error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0]["path"],
        json!(["payments", "edges", 1, "node", "status"])
    );
    // A field that loads more, or one asked twice, goes the usual way and answers too.
    let data = app
        .gql(
            "{ payments(first: 1) { edges { node { id operations { kind } } node { amount } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["payments"]["edges"][0]["node"]["amount"], 10_001);
    assert!(data["payments"]["edges"][0]["node"]["operations"].is_array());
}
on_both_backends!(a_page_resolved_in_place_answers_as_async_graphql_does);

/// A selection for each field of the GraphQL type `name`: the field itself, with every
/// field of an object it answers (one level down) and no arguments.
async fn selections_of(app: &TestApp, name: &str) -> Vec<String> {
    let data = app
        .gql(
            "{ __schema { types { name fields { name args { type { kind } } type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }",
            json!({}),
        )
        .await;
    let types = data["__schema"]["types"].as_array().expect("types").clone();
    let fields_of = |name: &str| -> Vec<serde_json::Value> {
        types
            .iter()
            .find(|t| t["name"] == name)
            .and_then(|t| t["fields"].as_array().cloned())
            .unwrap_or_default()
    };
    // A field's named type, under NON_NULL and LIST, and whether it is an object.
    let named = |field: &serde_json::Value| -> (String, bool) {
        let mut t = &field["type"];
        for _ in 0..3 {
            if t["name"].is_null() {
                t = &t["ofType"];
            }
        }
        (
            t["name"].as_str().unwrap_or_default().to_string(),
            t["kind"] == "OBJECT",
        )
    };
    let without_required_args = |field: &serde_json::Value| {
        field["args"]
            .as_array()
            .is_none_or(|args| args.iter().all(|a| a["type"]["kind"] != "NON_NULL"))
    };
    fields_of(name)
        .iter()
        .filter(|f| without_required_args(f))
        .map(|f| {
            let field = f["name"].as_str().unwrap_or_default();
            match named(f) {
                (object, true) => {
                    let leaves: Vec<String> = fields_of(&object)
                        .iter()
                        .filter(|g| without_required_args(g) && !named(g).1)
                        .map(|g| g["name"].as_str().unwrap_or_default().to_string())
                        .collect();
                    format!("{field} {{ __typename {} }}", leaves.join(" "))
                }
                _ => field.to_string(),
            }
        })
        .collect()
}

/// Statements outside a transaction on PostgreSQL go through connections held out of sqlx's
/// pool (`service::autocommit`), which go back to their list with no round trip. A
/// connection is reused after a statement that finished, also one the server refused, and
/// never after one that did not: a statement dropped half-way costs its connection, and the
/// next gets a fresh one. A write there commits on its own; transaction control is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn held_connections_are_reused_only_after_a_statement_that_finished() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    use service::autocommit::Autocommit;
    let Some(app) = TestApp::on_postgres().await else {
        return;
    };
    fn sql(s: &str) -> Statement {
        Statement::from_string(DbBackend::Postgres, s)
    }
    async fn backend(conn: &Autocommit<'_>) -> i32 {
        let row = conn
            .query_one_raw(sql("SELECT pg_backend_pid() AS pid"))
            .await
            .expect("read")
            .expect("a row");
        row.try_get::<i32>("", "pid").expect("pid")
    }
    let first = backend(&app.gw.autocommit().await.unwrap()).await;
    let again = backend(&app.gw.autocommit().await.unwrap()).await;
    assert_eq!(
        first, again,
        "a connection is reused after a statement that finished"
    );

    let held = app.gw.autocommit().await.unwrap();
    let cut = tokio::time::timeout(
        Duration::from_millis(200),
        held.query_one_raw(sql("SELECT pg_sleep(2)")),
    )
    .await;
    assert!(cut.is_err(), "the statement was cut short");
    let after_cut = backend(&held).await;
    assert_ne!(
        after_cut, first,
        "a statement cut short costs its connection"
    );

    assert!(
        held.query_one_raw(sql("SELECT no_such_column"))
            .await
            .is_err()
    );
    let after_error = backend(&held).await;
    assert_eq!(
        after_error, after_cut,
        "a statement the server refused keeps its connection, which still answers"
    );

    // A write commits on its own: the pool sees it before the held connection goes back.
    let done = held
        .execute_raw(sql(
            "UPDATE merchants SET name = 'renamed by a standalone write' \
             WHERE id = (SELECT id FROM merchants ORDER BY id LIMIT 1)",
        ))
        .await
        .expect("a standalone write");
    assert_eq!(done.rows_affected(), 1);
    let seen = app
        .gw
        .db
        .query_one_raw(sql(
            "SELECT count(*) AS n FROM merchants WHERE name = 'renamed by a standalone write'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.try_get::<i64>("", "n").unwrap(), 1);

    for control in ["BEGIN", "  start transaction", "commit"] {
        assert!(
            held.execute_raw(sql(control)).await.is_err(),
            "{control} is refused"
        );
    }
    assert!(
        held.execute_unprepared("DELETE FROM payments")
            .await
            .is_err(),
        "raw SQL is refused"
    );
    assert_eq!(
        backend(&held).await,
        after_error,
        "refused statements cost nothing"
    );
    drop(held);
    assert_eq!(
        backend(&app.gw.autocommit().await.unwrap()).await,
        after_error
    );
}
