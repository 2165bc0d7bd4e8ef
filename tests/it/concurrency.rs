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

/// The payment once none of its operations is pending: an answer may be PENDING_* when
/// the acquirer is slow (a loaded machine), and the worker finishes it just after.
async fn settled(app: &TestApp, id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let p = app.payment(id).await;
        let pending = p["operations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["status"] == "PENDING");
        if !pending || std::time::Instant::now() > deadline {
            return p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
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
    let p = settled(&app, &id).await;
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
    assert_eq!(captured, 30 * ok as i64, "every success captured once: {p}");
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
    let p = settled(&app, &id).await;
    let refunded = p["refundedAmount"].as_i64().unwrap();
    assert!(refunded <= 500);
    assert_eq!(refunded, 40 * ok as i64);
    assert!(p["status"] == "PAID" || p["status"] == "REFUNDED");
}
on_both_backends!(fifty_simultaneous_refunds_never_exceed_the_capture);

/// Copies of one acquirer job that run at once (a lease that ran out while the first copy
/// was still working) apply the acquirer's answer once: the operation is settled under the
/// payment's row lock by a conditional update, so later copies find it no longer pending
/// (and the payment no longer in its pending status).
async fn copies_of_one_answer_applied_at_once_capture_once(app: TestApp) {
    use entity::{operation, payment};
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
    use service::acquirer::{AcquirerAnswer, AcquirerPayment};

    let c = app.customer_with_card("4242424242424242").await;
    let id: uuid::Uuid = app.charge(&c, 1000, "MANUAL", None).await["payment"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // A capture of 400 as the API starts it (PENDING operation, PENDING_CAPTURE payment),
    // but with no job: the copies below play the worker.
    let p = payment::Entity::find_by_id(id)
        .one(&app.gw.db)
        .await
        .unwrap()
        .unwrap();
    let now = chrono::Utc::now();
    let op = operation::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        payment_id: Set(id),
        merchant_id: Set(p.merchant_id),
        kind: Set("CAPTURE".into()),
        amount: Set(400),
        status: Set("PENDING".into()),
        acquirer_reference: Set(p.acquirer_reference.clone()),
        error_code: Set(None),
        error_message: Set(None),
        reason: Set(None),
        authentication: Set(None),
        attempts: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.gw.db)
    .await
    .unwrap();
    let mut pending: payment::ActiveModel = p.clone().into();
    pending.status = Set("PENDING_CAPTURE".into());
    pending.update(&app.gw.db).await.unwrap();

    let answer = AcquirerAnswer::Approved(AcquirerPayment {
        id: p.acquirer_reference.clone().unwrap(),
        status: "captured".into(),
        authorized_amount: 1000,
        captured_amount: 400,
        released_amount: 0,
        refunded_amount: 0,
    });
    let copies = (0..8)
        .map(|_| service::payments::apply_answer(&app.gw, op.id, uuid::Uuid::now_v7(), &answer));
    let results = futures::future::join_all(copies).await;
    // SQLite may refuse a copy whose snapshot went stale (it is retried after its lease);
    // what matters is that none applies the answer a second time.
    assert!(results.iter().any(|r| r.is_ok()), "{results:?}");

    let after = app.payment(&id.to_string()).await;
    assert_eq!(after["capturedAmount"], 400, "{after}");
    assert_eq!(after["status"], "PAID", "{after}");
    let captured_events = entity::event::Entity::find()
        .filter(entity::event::Column::PaymentId.eq(id))
        .filter(entity::event::Column::EventType.eq("payment.captured"))
        .all(&app.gw.db)
        .await
        .unwrap();
    assert_eq!(captured_events.len(), 1);
}
on_both_backends!(copies_of_one_answer_applied_at_once_capture_once);
