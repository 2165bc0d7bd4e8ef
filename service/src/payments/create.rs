//! Creating payments, and charging a customer's stored card.
use chrono::{DateTime, Utc};
use entity::{payment, payment_item};
use sea_orm::sea_query::SelectStatement;
use sea_orm::{DbBackend, EntityTrait, QueryTrait, Set};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::customers;
use crate::error::{Result, ServiceError};
use crate::events;
use crate::gateway::Gateway;
use crate::idempotency::{Claim, WithRow};
use crate::merchants::Caller;
use crate::money::{self, Currency, ItemInput};
use crate::status::PaymentStatus;
use crate::writes::Writes;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CaptureMethod {
    /// Capture at once: the charge ends PAID.
    Automatic,
    /// Authorize only: the charge ends HOLD, to be captured or released later.
    Manual,
}

impl CaptureMethod {
    pub fn as_str(&self) -> &'static str {
        match self {
            CaptureMethod::Automatic => "AUTOMATIC",
            CaptureMethod::Manual => "MANUAL",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CreatePaymentInput {
    pub customer_id: Option<Uuid>,
    /// Until when its hosted page takes payment (default 31 days).
    pub expires_at: Option<DateTime<Utc>>,
    /// Store the card the buyer pays with on the customer.
    pub force_recurring: bool,
    pub amount: Option<i64>,
    pub items: Option<Vec<ItemInput>>,
    pub currency: String,
    pub capture_method: CaptureMethod,
    pub client_reference: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<Value>,
    /// The buyer must accept the charge on its confirmation page first.
    pub require_confirmation: bool,
    /// LiveChat's single-line form: name, price and quantity instead of items.
    pub name: Option<String>,
    pub price: Option<i64>,
    pub quantity: Option<i32>,
    pub return_url: Option<String>,
    /// Whole percent, 0–100.
    pub commission_percent: Option<i32>,
    /// ALL (default), FULL_ONLY, PARTIAL_ONLY or NONE.
    pub refund_availability: Option<String>,
    /// When the buyer should have paid; past it the payment becomes OVERDUE (still
    /// payable) or, with `due_strict`, EXPIRED (not payable).
    pub due_at: Option<DateTime<Utc>>,
    pub due_strict: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChargeCustomerInput {
    pub customer_id: Uuid,
    pub payment_method_id: Option<Uuid>,
    pub amount: Option<i64>,
    pub items: Option<Vec<ItemInput>>,
    pub currency: String,
    pub capture_method: CaptureMethod,
    pub client_reference: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<Value>,
    /// SPiD's fallback: when no stored card works, answer with a paylink for the same
    /// items and customer as well.
    pub fallback_to_paylink: bool,
}

/// Checks a refundAvailability value; none means ALL.
fn refund_availability(value: &Option<String>) -> Result<&'static str> {
    match value.as_deref() {
        None | Some("ALL") => Ok("ALL"),
        Some("FULL_ONLY") => Ok("FULL_ONLY"),
        Some("PARTIAL_ONLY") => Ok("PARTIAL_ONLY"),
        Some("NONE") => Ok("NONE"),
        Some(other) => Err(ServiceError::invalid(
            "INVALID_REFUND_AVAILABILITY",
            &["refundAvailability"],
            format!("{other:?} is not ALL, FULL_ONLY, PARTIAL_ONLY or NONE"),
        )),
    }
}

/// Checks dueAt and dueStrict: a due date in the future; strict only with a date.
fn due_date(input: &CreatePaymentInput) -> Result<Option<(DateTime<Utc>, bool)>> {
    match input.due_at {
        Some(at) if at <= crate::db::now() => Err(ServiceError::invalid(
            "DUE_IN_PAST",
            &["dueAt"],
            "dueAt must be in the future",
        )),
        Some(_) if input.require_confirmation => Err(ServiceError::invalid(
            "DUE_NOT_ALLOWED",
            &["dueAt"],
            "a charge the buyer accepts has no due date",
        )),
        Some(at) => Ok(Some((at, input.due_strict))),
        None if input.due_strict => Err(ServiceError::invalid(
            "REQUIRED",
            &["dueAt"],
            "dueStrict needs a dueAt",
        )),
        None => Ok(None),
    }
}

/// How long a payment's hosted page takes payment by default (Payer's card-payment link).
pub const CHECKOUT_VALIDITY: chrono::Duration = chrono::Duration::days(31);

#[derive(Clone)]
struct Priced {
    currency: Currency,
    amount: i64,
    vat: i64,
    items: Vec<money::Item>,
}

/// Either an amount or items, never both; the total must be positive, except the zero
/// amount of a card check (`zero_allowed`: a MANUAL payment made with createPayment).
fn price(
    amount: Option<i64>,
    items: &Option<Vec<ItemInput>>,
    currency: &str,
    zero_allowed: bool,
) -> Result<Priced> {
    let currency = Currency::parse(currency, &["currency"])?;
    match (amount, items) {
        (Some(_), Some(_)) => Err(ServiceError::invalid(
            "AMOUNT_AND_ITEMS",
            &["amount"],
            "give either amount or items, not both",
        )),
        (None, None) => Err(ServiceError::invalid(
            "AMOUNT_REQUIRED",
            &["amount"],
            "give an amount or items",
        )),
        (Some(0), None) if zero_allowed => Ok(Priced {
            currency,
            amount: 0,
            vat: 0,
            items: vec![],
        }),
        (Some(0), None) => Err(ServiceError::invalid(
            "INVALID_AMOUNT",
            &["amount"],
            "amount must be greater than zero; a zero amount is a card check, made with createPayment and captureMethod MANUAL",
        )),
        (Some(a), None) => Ok(Priced {
            currency,
            amount: money::positive_amount(a, &["amount"])?,
            vat: 0,
            items: vec![],
        }),
        (None, Some(list)) => {
            let (items, total, vat) = money::price_items(list, "items")?;
            money::positive_amount(total, &["items"])?;
            Ok(Priced {
                currency,
                amount: total,
                vat,
                items,
            })
        }
    }
}

fn check_text(value: &Option<String>, field: &str, max: usize) -> Result<()> {
    if value.as_ref().is_some_and(|v| v.chars().count() > max) {
        return Err(ServiceError::invalid(
            "TOO_LONG",
            &[field],
            format!("{field} has at most {max} characters"),
        ));
    }
    Ok(())
}

fn check_metadata(metadata: &Option<Value>) -> Result<()> {
    match metadata {
        None => Ok(()),
        Some(Value::Object(map)) if map.len() <= 50 && metadata_size(metadata) <= 8192 => Ok(()),
        Some(Value::Object(_)) => Err(ServiceError::invalid(
            "INVALID_METADATA",
            &["metadata"],
            "metadata has at most 50 keys and 8 KiB",
        )),
        Some(_) => Err(ServiceError::invalid(
            "INVALID_METADATA",
            &["metadata"],
            "metadata must be a JSON object",
        )),
    }
}

fn metadata_size(v: &Option<Value>) -> usize {
    v.as_ref().map(|v| v.to_string().len()).unwrap_or(0)
}

struct NewPayment<'a> {
    caller: &'a Caller,
    customer_id: Option<Uuid>,
    payment_method_id: Option<Uuid>,
    priced: Priced,
    capture_method: CaptureMethod,
    client_reference: Option<String>,
    description: Option<String>,
    metadata: Option<Value>,
    paylink_id: Option<Uuid>,
    /// The hosted page's code and how long it is valid.
    checkout: Option<(String, DateTime<Utc>)>,
    force_recurring: bool,
    /// For a charge the buyer must accept: its return URL and commission.
    confirmation: Option<(Option<String>, Option<i32>)>,
    refund_availability: &'static str,
    /// The due date, and whether it is strict.
    due: Option<(DateTime<Utc>, bool)>,
}

/// A status a new payment moves on to in its creating transaction (a charge's pending
/// state, the wait for the buyer's consent). The row is written in that status at once;
/// the CREATED step is still in its history and events, so they read as two moves.
struct Onward<'a> {
    to: PaymentStatus,
    reason: &'a str,
    event: &'static str,
    operation_id: Option<Uuid>,
}

/// The payment row and its items, in `status` (CREATED, or where it moves on to): their
/// inserts added to `writes`, and the row as written.
fn new_payment(writes: &mut Writes, new: NewPayment<'_>, status: PaymentStatus) -> payment::Model {
    let now = crate::db::now();
    let p = payment::Model {
        id: Uuid::now_v7(),
        merchant_id: new.caller.merchant_id,
        mode: new.caller.mode.as_str().into(),
        customer_id: new.customer_id,
        payment_method_id: new.payment_method_id,
        status: status.as_str().into(),
        currency: new.priced.currency.code().into(),
        amount: new.priced.amount,
        vat_amount: new.priced.vat,
        capture_method: new.capture_method.as_str().into(),
        client_reference: new.client_reference,
        description: new.description,
        metadata: new.metadata,
        authorized_amount: 0,
        captured_amount: 0,
        released_amount: 0,
        refunded_amount: 0,
        acquirer_reference: None,
        error_code: None,
        error_message: None,
        paylink_id: new.paylink_id,
        checkout_code: new.checkout.as_ref().map(|(code, _)| code.clone()),
        checkout_expires_at: new.checkout.as_ref().map(|(_, at)| *at),
        force_recurring: new.force_recurring,
        is_recurring_token: false,
        require_confirmation: new.confirmation.is_some(),
        return_url: new.confirmation.as_ref().and_then(|(url, _)| url.clone()),
        commission_percent: new.confirmation.as_ref().and_then(|(_, c)| *c),
        refund_availability: new.refund_availability.into(),
        due_at: new.due.map(|(at, _)| at),
        due_strict: new.due.is_some_and(|(_, strict)| strict),
        sent_at: None,
        viewed_at: None,
        authorized_at: None,
        paid_at: None,
        cleared_at: None,
        settled_at: None,
        chargeback_amount: 0,
        // The created event is number 1; a payment that moves on at once has had two.
        event_sequence: if status == PaymentStatus::Created {
            1
        } else {
            2
        },
        created_at: now,
        updated_at: now,
    };
    writes.add(payment::Entity::insert(payment::ActiveModel::from(p.clone())).into_query());
    let items: Vec<payment_item::ActiveModel> = new
        .priced
        .items
        .into_iter()
        .enumerate()
        .map(|(i, item)| payment_item::ActiveModel {
            id: Set(Uuid::now_v7()),
            payment_id: Set(p.id),
            position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
            name: Set(item.name),
            description: Set(item.description),
            unit_price: Set(item.unit_price),
            vat_rate: Set(item.vat_rate),
            quantity: Set(item.quantity),
            client_item_reference: Set(item.client_item_reference),
            total: Set(item.total),
            vat_amount: Set(item.vat_amount),
        })
        .collect();
    if !items.is_empty() {
        writes.add(payment_item::Entity::insert_many(items).into_query());
    }
    p
}

/// The history and events of a new payment, added to `writes`: CREATED, and the move on to
/// `onward` if it went on at once (one statement for the history rows, one for the events).
fn record_created(
    writes: &mut Writes,
    p: &payment::Model,
    onward: Option<Onward<'_>>,
) -> Result<()> {
    let Some(onward) = onward else {
        writes.add(super::history_insert(
            p.id,
            &[(PaymentStatus::Created, "created", None)],
        ));
        events::add_payment_events(writes, &[("payment.created", p)])?;
        return Ok(());
    };
    if !PaymentStatus::Created.can_move_to(onward.to) || p.status != onward.to.as_str() {
        return Err(ServiceError::Internal(format!(
            "a new payment cannot move on to {}",
            onward.to
        )));
    }
    let created = payment::Model {
        status: PaymentStatus::Created.as_str().into(),
        event_sequence: 1,
        ..p.clone()
    };
    writes.add(super::history_insert(
        p.id,
        &[
            (PaymentStatus::Created, "created", None),
            (onward.to, onward.reason, onward.operation_id),
        ],
    ));
    events::add_payment_events(writes, &[("payment.created", &created), (onward.event, p)])?;
    Ok(())
}

/// Commits a new payment's writes with the mutation's answer (and its idempotency key's
/// record): on PostgreSQL one statement, with no transaction around it.
async fn commit_new(
    gw: &Gateway,
    writes: Writes,
    payment_id: Uuid,
    claim: Option<Claim>,
) -> Result<serde_json::Value> {
    let value = super::answer(payment_id);
    commit_answer(gw, writes, &value, claim.as_ref(), None).await?;
    Ok(value)
}

/// As [`commit_new`], on PostgreSQL, only if `guard` finds a row when the statement runs:
/// None (and nothing written) when it does not.
async fn commit_new_if(
    gw: &Gateway,
    writes: Writes,
    guard: SelectStatement,
    payment_id: Uuid,
    claim: Option<&Claim>,
) -> Result<Option<serde_json::Value>> {
    let value = super::answer(payment_id);
    let written = commit_answer(gw, writes, &value, claim, Some(guard)).await?;
    Ok(written.then_some(value))
}

/// Commits `writes` with the answer `value` recorded for the idempotency key, if any (only if
/// `guard`, when given, finds a row); answers whether they were written.
async fn commit_answer(
    gw: &Gateway,
    mut writes: Writes,
    value: &serde_json::Value,
    claim: Option<&Claim>,
    guard: Option<SelectStatement>,
) -> Result<bool> {
    if let Some(claim) = claim {
        writes.add(claim.complete_statement(value)?);
    }
    let conn = gw.autocommit().await?;
    match guard {
        None => writes.commit(&conn).await?,
        Some(guard) => {
            if !writes.commit_if_found(&conn, guard).await? {
                return Ok(false);
            }
        }
    }
    if let Some(claim) = claim {
        claim.committed();
    }
    Ok(true)
}

/// A payment to be paid later (its hosted page comes with the paylink work): CREATED.
pub async fn create_payment(
    gw: &Gateway,
    caller: &Caller,
    input: CreatePaymentInput,
    claim: Option<Claim>,
) -> Result<WithRow<payment::Model>> {
    let items = match (&input.name, input.price) {
        (Some(name), Some(price)) if input.items.is_none() && input.amount.is_none() => {
            Some(vec![ItemInput {
                name: name.clone(),
                description: None,
                unit_price: price,
                vat_rate: 0,
                quantity: input.quantity,
                client_item_reference: None,
            }])
        }
        (None, Some(_)) => {
            return Err(ServiceError::invalid(
                "REQUIRED",
                &["name"],
                "a price needs a name",
            ));
        }
        _ => input.items.clone(),
    };
    let priced = price(
        input.amount,
        &items,
        &input.currency,
        input.capture_method == CaptureMethod::Manual && !input.require_confirmation,
    )?;
    check_text(&input.client_reference, "clientReference", 200)?;
    check_text(&input.description, "description", 1000)?;
    check_metadata(&input.metadata)?;
    if let Some(c) = input.commission_percent
        && !(0..=100).contains(&c)
    {
        return Err(ServiceError::invalid(
            "INVALID_COMMISSION",
            &["commissionPercent"],
            "commissionPercent is 0 to 100",
        ));
    }
    if let Some(url) = &input.return_url {
        crate::paylinks::check_uri(url, &["returnUrl".to_string()])?;
    }
    if input.require_confirmation && input.capture_method == CaptureMethod::Manual {
        return Err(ServiceError::invalid(
            "INVALID_CAPTURE_METHOD",
            &["captureMethod"],
            "a charge the buyer accepts is captured by activatePayment; leave captureMethod AUTOMATIC",
        ));
    }
    let checkout_expiry = match input.expires_at {
        Some(at) if at <= crate::db::now() => {
            return Err(ServiceError::invalid(
                "EXPIRY_IN_PAST",
                &["expiresAt"],
                "expiresAt must be in the future",
            ));
        }
        Some(at) => at,
        None => crate::db::now() + CHECKOUT_VALIDITY,
    };
    let due = due_date(&input)?;
    if let Some(id) = input.customer_id {
        customers::get(&gw.autocommit().await?, caller, id)
            .await
            .map_err(|_| {
                ServiceError::invalid("CUSTOMER_NOT_FOUND", &["customerId"], "no such customer")
            })?;
    }
    let mut writes = Writes::new();
    let p = new_payment(
        &mut writes,
        NewPayment {
            caller,
            customer_id: input.customer_id,
            payment_method_id: None,
            priced,
            capture_method: input.capture_method,
            client_reference: input.client_reference,
            description: input.description,
            metadata: input.metadata,
            paylink_id: None,
            checkout: Some((crate::codes::new_code(), checkout_expiry)),
            force_recurring: input.force_recurring,
            confirmation: input
                .require_confirmation
                .then(|| (input.return_url.clone(), input.commission_percent)),
            refund_availability: refund_availability(&input.refund_availability)?,
            due,
        },
        if input.require_confirmation {
            PaymentStatus::PendingConfirmation
        } else {
            PaymentStatus::Created
        },
    );
    let onward = input.require_confirmation.then_some(Onward {
        to: PaymentStatus::PendingConfirmation,
        reason: "waiting for the buyer to accept",
        event: "payment.pending_confirmation",
        operation_id: None,
    });
    record_created(&mut writes, &p, onward)?;
    let value = commit_new(gw, writes, p.id, claim).await?;
    // The row as committed: nothing else can have changed it yet worth a second read.
    Ok(WithRow {
        value,
        row: Some(p),
    })
}

/// Charges a customer's stored card. One statement (on SQLite, one transaction) writes the
/// payment, its operation, the history, the events and the job; the worker calls the acquirer; this waits for the result
/// up to the charge deadline.
pub async fn charge_customer(
    gw: &Gateway,
    caller: &Caller,
    input: ChargeCustomerInput,
    claim: Option<Claim>,
) -> Result<WithRow<payment::Model>> {
    let priced = price(input.amount, &input.items, &input.currency, false)?;
    check_text(&input.client_reference, "clientReference", 200)?;
    check_text(&input.description, "description", 1000)?;
    check_metadata(&input.metadata)?;
    let named = input.payment_method_id.is_some();
    // On PostgreSQL the card is taken on trust, the one named or the default this process
    // last found, and the charge's own statement checks it: a round trip to the database
    // less per charge (in the benchmark, an eighth less of `serve`'s CPU per charge and 5 %
    // more charges a second). A card not as
    // trusted (removed, expired, no longer the default) fails the statement, which then
    // writes nothing, and the charge reads the card as below.
    let trusted = input
        .payment_method_id
        .or_else(|| gw.default_cards.get(input.customer_id));
    if gw.db.get_database_backend() == DbBackend::Postgres
        && let Some(card) = trusted
    {
        let (writes, charge) = plan_charge(caller, input.clone(), priced.clone(), card)?;
        let guard = customers::usable_guard(caller, input.customer_id, card, named);
        if let Some(value) =
            commit_new_if(gw, writes, guard, charge.payment_id, claim.as_ref()).await?
        {
            return charge.wait(gw, value).await;
        }
        gw.default_cards.forget(input.customer_id);
    }
    // The card is read before the writes, as it was inside their transaction: removing a
    // card takes no lock a charge could wait on, so a charge racing a removal may go ahead.
    let method = customers::usable_method(
        &gw.autocommit().await?,
        caller,
        input.customer_id,
        input.payment_method_id,
    )
    .await?;
    if !named {
        gw.default_cards.put(input.customer_id, method.id);
    }
    let (writes, charge) = plan_charge(caller, input, priced, method.id)?;
    let value = commit_new(gw, writes, charge.payment_id, claim).await?;
    charge.wait(gw, value).await
}

/// A charge whose writes are planned: what it waits on once they commit.
struct PlannedCharge {
    payment_id: Uuid,
    operation_id: Uuid,
    job: entity::job::Model,
}

impl PlannedCharge {
    /// Hands the committed charge's job to the worker, and waits for the payment as the
    /// worker commits it (see `Gateway::push_and_wait`).
    async fn wait(self, gw: &Gateway, value: Value) -> Result<WithRow<payment::Model>> {
        let row = gw.push_and_wait(&self.job, self.operation_id).await?;
        Ok(WithRow { value, row })
    }
}

/// A charge's writes on the card `method_id`, and the charge they make.
fn plan_charge(
    caller: &Caller,
    input: ChargeCustomerInput,
    priced: Priced,
    method_id: Uuid,
) -> Result<(Writes, PlannedCharge)> {
    let (kind, pending, event) =
        super::charge_or_authorize(input.capture_method == CaptureMethod::Manual);
    let mut writes = Writes::new();
    let payment = new_payment(
        &mut writes,
        NewPayment {
            caller,
            customer_id: Some(input.customer_id),
            payment_method_id: Some(method_id),
            priced,
            capture_method: input.capture_method,
            client_reference: input.client_reference,
            description: input.description,
            metadata: input.metadata,
            paylink_id: None,
            checkout: None,
            force_recurring: false,
            confirmation: None,
            refund_availability: "ALL",
            due: None,
        },
        pending,
    );
    // The payment is written in its pending state at once: one row, one operation, one
    // insert each for the history and the events, one job; one statement in all.
    let op = super::new_operation(&payment, kind, payment.amount, None);
    writes.add(super::operation_insert(&op));
    let onward = Onward {
        to: pending,
        reason: "charge requested",
        event,
        operation_id: Some(op.id),
    };
    record_created(&mut writes, &payment, Some(onward))?;
    let job = crate::jobs::new_dispatched(&crate::jobs::JobPayload::AcquirerCall {
        operation_id: op.id,
    })?;
    writes.add(crate::jobs::insert_statement(&job));
    Ok((
        writes,
        PlannedCharge {
            payment_id: payment.id,
            operation_id: op.id,
            job,
        },
    ))
}

/// The payment a paylink's page pays: its items, total and flow, for its buyer.
pub async fn create_for_paylink(
    conn: &impl sea_orm::ConnectionTrait,
    link: &entity::paylink::Model,
) -> Result<payment::Model> {
    let items = crate::paylinks::items(conn, link.id).await?;
    let caller = Caller {
        merchant_id: link.merchant_id,
        mode: if link.mode == "live" {
            crate::merchants::Mode::Live
        } else {
            crate::merchants::Mode::Test
        },
        api_key_id: link.created_by,
    };
    let priced = Priced {
        currency: Currency::parse(&link.currency, &["currency"])?,
        amount: link.total,
        vat: link.vat_total,
        items: items
            .into_iter()
            .map(|i| money::Item {
                name: i.name.clone().unwrap_or_else(|| i.description.clone()),
                description: Some(i.description),
                unit_price: i.price,
                vat_rate: i.vat,
                quantity: i.quantity,
                client_item_reference: i.client_item_reference,
                total: i.total,
                vat_amount: i.vat_amount,
            })
            .collect(),
    };
    let capture_method = if link.purchase_flow == "AUTHORIZE" {
        CaptureMethod::Manual
    } else {
        CaptureMethod::Automatic
    };
    let mut writes = Writes::new();
    let p = new_payment(
        &mut writes,
        NewPayment {
            caller: &caller,
            customer_id: link.buyer_customer_id,
            payment_method_id: None,
            priced,
            capture_method,
            client_reference: link.client_reference.clone(),
            description: Some(link.title.clone()),
            metadata: None,
            paylink_id: Some(link.id),
            checkout: None,
            force_recurring: false,
            confirmation: None,
            refund_availability: "ALL",
            due: None,
        },
        PaymentStatus::Created,
    );
    record_created(&mut writes, &p, None)?;
    writes.run(conn).await?;
    Ok(p)
}
