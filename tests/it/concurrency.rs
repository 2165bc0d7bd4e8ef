//! Many simultaneous captures or refunds on one payment never break the ledger.
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::{on_both_backends, on_both_backends_with};

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

/// A capture operation of `amount` on `p`, written straight into the ledger (no job).
async fn insert_capture(
    app: &TestApp,
    p: &entity::payment::Model,
    amount: i64,
    status: &str,
) -> entity::operation::Model {
    use sea_orm::{ActiveModelTrait, Set};
    let now = chrono::Utc::now();
    entity::operation::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        payment_id: Set(p.id),
        merchant_id: Set(p.merchant_id),
        kind: Set("CAPTURE".into()),
        amount: Set(amount),
        status: Set(status.into()),
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
    .unwrap()
}

/// A capture of 400 on a payment authorized for 1000, as the API starts it (PENDING
/// operation, PENDING_CAPTURE payment) but with no job: the tests below play the worker.
/// Returns the payment's id, the operation's id and the acquirer's approval.
async fn pending_capture(
    app: &TestApp,
) -> (uuid::Uuid, uuid::Uuid, service::acquirer::AcquirerAnswer) {
    use entity::payment;
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    use service::acquirer::{AcquirerAnswer, AcquirerPayment};

    let c = app.customer_with_card("4242424242424242").await;
    let id: uuid::Uuid = app.charge(&c, 1000, "MANUAL", None).await["payment"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let p = payment::Entity::find_by_id(id)
        .one(&app.gw.db)
        .await
        .unwrap()
        .unwrap();
    let op = insert_capture(app, &p, 400, "PENDING").await;
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
    (id, op.id, answer)
}

/// The capture applied once: 400 captured, PAID, one `payment.captured` event, one move to
/// PAID in the history.
async fn assert_captured_once(app: &TestApp, id: uuid::Uuid) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

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
    let to_paid = entity::status_history::Entity::find()
        .filter(entity::status_history::Column::PaymentId.eq(id))
        .filter(entity::status_history::Column::Status.eq("PAID"))
        .all(&app.gw.db)
        .await
        .unwrap();
    assert_eq!(to_paid.len(), 1, "{to_paid:?}");
}

/// Copies of one acquirer job that run at once (a lease that ran out while the first copy
/// was still working) apply the acquirer's answer once: the operation is settled under the
/// payment's row lock by a conditional update, so later copies find it no longer pending
/// (and the payment no longer in its pending status).
async fn copies_of_one_answer_applied_at_once_capture_once(app: TestApp) {
    let (id, operation_id, answer) = pending_capture(&app).await;
    let copies = (0..8).map(|_| {
        service::payments::apply_answer(&app.gw, operation_id, uuid::Uuid::now_v7(), &answer)
    });
    let results = futures::future::join_all(copies).await;
    // SQLite may refuse a copy whose snapshot went stale (it is retried after its lease);
    // what matters is that none applies the answer a second time.
    assert!(results.iter().any(|r| r.is_ok()), "{results:?}");
    assert_captured_once(&app, id).await;
}
on_both_backends!(copies_of_one_answer_applied_at_once_capture_once);

/// The same through the worker's way: every copy reads the pending operation first, then
/// all settle at once (on PostgreSQL in one guarded statement each). One copy's guards hold;
/// the others find the payment moved on and take the careful way, which finds the operation
/// settled and writes nothing.
async fn copies_that_read_the_operation_before_any_settled_capture_once(app: TestApp) {
    let (id, operation_id, answer) = pending_capture(&app).await;
    let mut calls = Vec::new();
    for _ in 0..8 {
        let call = service::payments::operation_request(&app.gw, operation_id)
            .await
            .unwrap()
            .expect("the operation is pending");
        calls.push(call);
    }
    let copies = calls
        .iter()
        .map(|call| service::payments::settle(&app.gw, call, uuid::Uuid::now_v7(), &answer));
    let results = futures::future::join_all(copies).await;
    assert!(results.iter().any(|r| r.is_ok()), "{results:?}");
    assert_captured_once(&app, id).await;
    // A copy that comes after all of them, with what it read before, writes nothing either.
    let late = service::payments::settle(&app.gw, &calls[0], uuid::Uuid::now_v7(), &answer)
        .await
        .unwrap();
    assert_eq!(late.captured_amount, 400);
    assert_captured_once(&app, id).await;
    assert!(
        service::payments::operation_request(&app.gw, operation_id)
            .await
            .unwrap()
            .is_none(),
        "the operation is no longer pending"
    );
}
on_both_backends!(copies_that_read_the_operation_before_any_settled_capture_once);

/// Many reads of operations at once, as the worker makes them when a burst of jobs starts
/// (on PostgreSQL they go out together, as one statement): each is answered with its own
/// operation, asked twice or not; one no longer pending with None; an unknown one with
/// NOT_FOUND. The same once the batching task has stopped: each read then goes alone.
async fn operations_read_at_once_are_each_answered_with_their_own(app: TestApp) {
    use entity::payment;
    use sea_orm::EntityTrait;
    use service::acquirer::AcquirerRequest;

    let mut held = Vec::new();
    for _ in 0..2 {
        let c = app.customer_with_card("4242424242424242").await;
        let charged = app.charge(&c, 5000, "MANUAL", None).await;
        assert_eq!(charged["payment"]["status"], "HOLD", "{charged}");
        let id: uuid::Uuid = charged["payment"]["id"].as_str().unwrap().parse().unwrap();
        let p = payment::Entity::find_by_id(id)
            .one(&app.gw.db)
            .await
            .unwrap()
            .unwrap();
        held.push(p);
    }
    let mut expected = Vec::new();
    for i in 0..24_i64 {
        let p = &held[(i % 2) as usize];
        let status = if i == 5 { "SUCCEEDED" } else { "PENDING" };
        let op = insert_capture(&app, p, 100 + i, status).await;
        let call = (status == "PENDING").then(|| AcquirerRequest::Capture {
            reference: p.acquirer_reference.clone().unwrap(),
            amount: 100 + i,
        });
        expected.push((op.id, call));
    }
    // One asked twice, and one that does not exist.
    expected.push(expected[3].clone());
    let unknown = uuid::Uuid::now_v7();
    // As the worker reads them, and as it reads them once its batching task has stopped
    // (as after a panic): then each reads alone.
    let mut stopped = app.gw.clone();
    stopped.operation_reads = Some(service::payments::OperationReads::stopped());
    for gw in [&app.gw, &stopped] {
        reads_answer_their_own(gw, &expected, unknown).await;
    }
}
on_both_backends!(operations_read_at_once_are_each_answered_with_their_own);

async fn reads_answer_their_own(
    gw: &service::Gateway,
    expected: &[(uuid::Uuid, Option<service::acquirer::AcquirerRequest>)],
    unknown: uuid::Uuid,
) {
    let reads = expected
        .iter()
        .map(|(id, _)| *id)
        .chain([unknown])
        .map(|id| service::payments::operation_request(gw, id));
    let mut answers = futures::future::join_all(reads).await;
    let last = answers.pop().unwrap();
    assert!(
        matches!(last, Err(service::ServiceError::NotFound)),
        "an unknown operation is not found: {:?}",
        last.map(|c| c.map(|c| c.operation_id))
    );
    for ((id, call), answer) in expected.iter().zip(answers) {
        let answer = answer.unwrap_or_else(|e| panic!("operation {id}: {e}"));
        match (call, answer) {
            (Some(call), Some(answer)) => {
                assert_eq!(answer.operation_id, *id);
                assert_eq!(&answer.request, call, "operation {id}");
            }
            (None, None) => {}
            (call, answer) => panic!(
                "operation {id}: expected {call:?}, got the call of {:?}",
                answer.map(|a| a.operation_id)
            ),
        }
    }
}

/// The worker read the authorization as pending, then the merchant cancelled while the
/// acquirer was answering. The answer must not move the payment from what the worker read
/// (PENDING_EXECUTE → HOLD): on PostgreSQL the one-statement settle finds the payment's
/// sequence moved on and writes nothing, and the careful way keeps it CANCELLED and gives
/// the money back.
async fn an_answer_read_before_the_merchant_cancelled_leaves_the_payment_cancelled(app: TestApp) {
    use service::acquirer::{AcquirerAnswer, AcquirerPayment};

    let c = app.customer_with_card("4242424242424242").await;
    let charged = app.charge(&c, 700, "MANUAL", None).await;
    assert_eq!(charged["payment"]["status"], "PENDING_EXECUTE", "{charged}");
    let id = charged["payment"]["id"].as_str().unwrap().to_string();
    let operation_id = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let payment_id: uuid::Uuid = id.parse().unwrap();
        entity::operation::Entity::find()
            .filter(entity::operation::Column::PaymentId.eq(payment_id))
            .one(&app.gw.db)
            .await
            .unwrap()
            .expect("the authorization")
            .id
    };
    let call = service::payments::operation_request(&app.gw, operation_id)
        .await
        .unwrap()
        .expect("the authorization is pending");
    let cancelled = app
        .payment_mutation("cancelPayment", json!({"id": id}))
        .await;
    assert_eq!(cancelled["payment"]["status"], "CANCELLED", "{cancelled}");

    let answer = AcquirerAnswer::Approved(AcquirerPayment {
        id: "acq_after_cancel".into(),
        status: "authorized".into(),
        authorized_amount: 700,
        captured_amount: 0,
        released_amount: 0,
        refunded_amount: 0,
    });
    let settled = service::payments::settle(&app.gw, &call, uuid::Uuid::now_v7(), &answer)
        .await
        .unwrap();
    assert_eq!(settled.status, "CANCELLED");
    let after = app.payment(&id).await;
    assert_eq!(after["status"], "CANCELLED", "{after}");
    assert_eq!(after["authorizedAmount"], 700, "{after}");
    let operations: Vec<(&str, &str)> = after["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["kind"].as_str().unwrap(), o["status"].as_str().unwrap()))
        .collect();
    assert!(
        operations.contains(&("AUTHORIZE", "SUCCEEDED")),
        "{operations:?}"
    );
    // The release that gives the money back (its job waits: no worker runs here).
    assert!(
        operations.contains(&("RELEASE", "PENDING")),
        "{operations:?}"
    );
}
on_both_backends_with!(
    an_answer_read_before_the_merchant_cancelled_leaves_the_payment_cancelled,
    crate::support::Options {
        worker: false,
        charge_wait: std::time::Duration::from_millis(200),
        ..crate::support::Options::default()
    }
);

/// An answer for an operation settled since the worker read it (the payment untouched)
/// moves nothing: the one-statement settle also requires the operation still pending.
async fn an_answer_to_an_operation_settled_meanwhile_moves_nothing(app: TestApp) {
    use entity::operation;
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};

    let (id, operation_id, answer) = pending_capture(&app).await;
    let call = service::payments::operation_request(&app.gw, operation_id)
        .await
        .unwrap()
        .expect("the capture is pending");
    let op = operation::Entity::find_by_id(operation_id)
        .one(&app.gw.db)
        .await
        .unwrap()
        .unwrap();
    let mut failed: operation::ActiveModel = op.into();
    failed.status = Set("FAILED".into());
    failed.update(&app.gw.db).await.unwrap();

    service::payments::settle(&app.gw, &call, uuid::Uuid::now_v7(), &answer)
        .await
        .unwrap();
    let after = app.payment(&id.to_string()).await;
    assert_eq!(after["status"], "PENDING_CAPTURE", "{after}");
    assert_eq!(after["capturedAmount"], 0, "{after}");
}
on_both_backends!(an_answer_to_an_operation_settled_meanwhile_moves_nothing);
