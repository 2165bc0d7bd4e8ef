//! The hosted checkout (`/pay/{code}`): what the page shows, the card form's rules, and
//! paying. The card number goes straight through to the acquirer to be tokenized; only the
//! token, brand, last 4 digits and expiry are kept.
use chrono::Datelike;
use entity::{paylink, payment, payment_item, payment_method};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use uuid::Uuid;

use crate::acquirer::{CardToken, TokenizeError};
use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::merchants::Caller;
use crate::payments;
use crate::status::PaymentStatus;
use crate::{customers, paylinks};

/// What a code leads to.
#[derive(Clone, Debug)]
pub enum Target {
    Paylink(Box<paylink::Model>),
    Payment(Box<payment::Model>),
}

/// A line on the page.
#[derive(Clone, Debug)]
pub struct Line {
    pub name: String,
    pub description: Option<String>,
    pub quantity: i32,
    pub unit_price: i64,
    pub total: i64,
    pub vat_rate: i32,
    pub vat_amount: i64,
}

/// Everything the page shows.
#[derive(Clone, Debug)]
pub struct View {
    pub target: Target,
    pub merchant: String,
    pub title: String,
    pub currency: String,
    pub lines: Vec<Line>,
    pub total: i64,
    pub vat_total: i64,
    /// Payment option types allowed ("CARD", …).
    pub options: Vec<paylinks::PaymentOption>,
    pub authorize_only: bool,
    /// Why the page no longer takes payment, if it does not.
    pub gone: Option<String>,
    pub buyer: Option<Uuid>,
    pub redirect_uri: Option<String>,
    pub cancel_uri: Option<String>,
}

impl View {
    pub fn caller(&self) -> Caller {
        match &self.target {
            Target::Paylink(l) => Caller::system(l.merchant_id, &l.mode),
            Target::Payment(p) => Caller::system(p.merchant_id, &p.mode),
        }
    }

    pub fn accepts_cards(&self) -> bool {
        self.options.iter().any(|o| o.kind == "CARD")
    }
}

/// Whether a payment's page takes the buyer's card now: a consent charge while it waits
/// for the buyer, any other while it is payable (CREATED, SENT, VIEWED, OVERDUE).
fn payable(p: &payment::Model, status: PaymentStatus) -> bool {
    if p.require_confirmation {
        status == PaymentStatus::PendingConfirmation
    } else {
        status.is_payable()
    }
}

/// Chip's "viewed": the first time the buyer opens a payment's page, CREATED or SENT
/// becomes VIEWED (an OVERDUE one only notes the time).
pub async fn mark_viewed(gw: &Gateway, target: &Target) -> Result<()> {
    let Target::Payment(p) = target else {
        return Ok(());
    };
    if p.viewed_at.is_some() || p.require_confirmation {
        return Ok(());
    }
    let txn = gw.db.begin().await?;
    let p = payments::lock_any(&txn, p.id).await?;
    let status = payments::status_of(&p)?;
    if p.viewed_at.is_some() || !status.is_payable() {
        return Ok(());
    }
    let mut row: payment::ActiveModel = p.clone().into();
    row.viewed_at = Set(Some(crate::db::now()));
    let to = if matches!(status, PaymentStatus::Created | PaymentStatus::Sent) {
        PaymentStatus::Viewed
    } else {
        status
    };
    payments::transition(
        &txn,
        &p,
        row,
        to,
        "the buyer opened the payment page",
        None,
        "payment.viewed",
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

pub async fn find(gw: &Gateway, code: &str) -> Result<Option<Target>> {
    if code.len() > 64 {
        return Ok(None);
    }
    if let Some(link) = paylinks::by_code(&gw.db, code).await? {
        return Ok(Some(Target::Paylink(Box::new(link))));
    }
    Ok(payment::Entity::find()
        .filter(payment::Column::CheckoutCode.eq(code))
        .one(&gw.db)
        .await?
        .map(|p| Target::Payment(Box::new(p))))
}

/// The payment a paylink's page is paying now (a CREATED one), if any.
async fn open_payment(
    conn: &impl ConnectionTrait,
    paylink_id: Uuid,
) -> Result<Option<payment::Model>> {
    Ok(payment::Entity::find()
        .filter(payment::Column::PaylinkId.eq(paylink_id))
        .filter(payment::Column::Status.eq(PaymentStatus::Created.as_str()))
        .order_by_desc(payment::Column::CreatedAt)
        .lock_exclusive()
        .one(conn)
        .await?)
}

/// The latest payment made through a target (for the receipt).
pub async fn latest_payment(gw: &Gateway, target: &Target) -> Result<Option<payment::Model>> {
    match target {
        Target::Payment(p) => Ok(payment::Entity::find_by_id(p.id).one(&gw.db).await?),
        Target::Paylink(l) => Ok(payment::Entity::find()
            .filter(payment::Column::PaylinkId.eq(l.id))
            .order_by_desc(payment::Column::CreatedAt)
            .one(&gw.db)
            .await?),
    }
}

pub async fn view(gw: &Gateway, target: Target) -> Result<View> {
    let now = crate::db::now();
    let (merchant_id, view) = match &target {
        Target::Paylink(l) => {
            let items = paylinks::items(&gw.db, l.id).await?;
            let gone = match l.status.as_str() {
                paylinks::AVAILABLE if l.expires_at <= now => {
                    Some("This payment link has expired.".to_string())
                }
                paylinks::AVAILABLE => None,
                paylinks::USED => Some("This payment link has already been paid.".to_string()),
                paylinks::EXPIRED => Some("This payment link has expired.".to_string()),
                _ => Some("This payment link is no longer available.".to_string()),
            };
            let options: Vec<paylinks::PaymentOption> =
                serde_json::from_value(l.payment_options.clone()).unwrap_or_default();
            (
                l.merchant_id,
                View {
                    target: target.clone(),
                    merchant: String::new(),
                    title: l.title.clone(),
                    currency: l.currency.clone(),
                    lines: items
                        .into_iter()
                        .map(|i| Line {
                            name: i.name.clone().unwrap_or_else(|| i.description.clone()),
                            description: i.name.as_ref().map(|_| i.description.clone()),
                            quantity: i.quantity,
                            unit_price: i.price,
                            total: i.total,
                            vat_rate: i.vat,
                            vat_amount: i.vat_amount,
                        })
                        .collect(),
                    total: l.total,
                    vat_total: l.vat_total,
                    options,
                    authorize_only: l.purchase_flow == "AUTHORIZE",
                    gone,
                    buyer: l.buyer_customer_id,
                    redirect_uri: l.redirect_uri.clone(),
                    cancel_uri: l.cancel_uri.clone(),
                },
            )
        }
        Target::Payment(p) => {
            let items = payment_item::Entity::find()
                .filter(payment_item::Column::PaymentId.eq(p.id))
                .order_by_asc(payment_item::Column::Position)
                .all(&gw.db)
                .await?;
            let status = payments::status_of(p)?;
            let gone = if p.checkout_expires_at.is_some_and(|at| at <= now) && payable(p, status) {
                Some("This payment link has expired.".to_string())
            } else {
                match status {
                    s if payable(p, s) => None,
                    PaymentStatus::Expired => Some(
                        "This payment is past its due date and can no longer be paid.".to_string(),
                    ),
                    PaymentStatus::Preauthorized => {
                        Some("Your card has been checked and saved.".to_string())
                    }
                    PaymentStatus::Accepted => Some("You have accepted this charge.".to_string()),
                    PaymentStatus::Declined => Some("You have declined this charge.".to_string()),
                    PaymentStatus::Cancelled => Some("This payment was cancelled.".to_string()),
                    PaymentStatus::Paid | PaymentStatus::Hold => {
                        Some("This payment has already been made.".to_string())
                    }
                    other => Some(format!(
                        "This payment can no longer be paid (it is {other})."
                    )),
                }
            };
            let lines = if items.is_empty() {
                vec![Line {
                    name: p.description.clone().unwrap_or_else(|| "Payment".into()),
                    description: None,
                    quantity: 1,
                    unit_price: p.amount,
                    total: p.amount,
                    vat_rate: 0,
                    vat_amount: 0,
                }]
            } else {
                items
                    .into_iter()
                    .map(|i| Line {
                        name: i.name,
                        description: i.description,
                        quantity: i.quantity,
                        unit_price: i.unit_price,
                        total: i.total,
                        vat_rate: i.vat_rate,
                        vat_amount: i.vat_amount,
                    })
                    .collect()
            };
            (
                p.merchant_id,
                View {
                    target: target.clone(),
                    merchant: String::new(),
                    // A single-line charge (LiveChat's name, price, quantity) is titled by its line.
                    title: p
                        .description
                        .clone()
                        .or_else(|| match lines.as_slice() {
                            [only] => Some(only.name.clone()),
                            _ => None,
                        })
                        .unwrap_or_else(|| "Payment".into()),
                    currency: p.currency.clone(),
                    lines,
                    total: p.amount,
                    vat_total: p.vat_amount,
                    options: vec![paylinks::PaymentOption::simple("CARD")],
                    authorize_only: p.capture_method == "MANUAL" || p.require_confirmation,
                    gone,
                    buyer: p.customer_id,
                    redirect_uri: None,
                    cancel_uri: None,
                },
            )
        }
    };
    let merchant = entity::merchant::Entity::find_by_id(merchant_id)
        .one(&gw.db)
        .await?;
    Ok(View {
        merchant: merchant.map(|m| m.name).unwrap_or_default(),
        ..view
    })
}

/// Whether the buyer token of a buyer-locked paylink is right.
pub fn buyer_allowed(gw: &Gateway, view: &View, token: Option<&str>) -> Result<bool> {
    match &view.target {
        Target::Paylink(l) if l.buyer_customer_id.is_some() => {
            let expected = paylinks::buyer_token(gw, l)?;
            Ok(expected.is_some() && expected.as_deref() == token)
        }
        _ => Ok(true),
    }
}

/// The buyer's stored cards, offered on a buyer-locked page.
pub async fn stored_cards(gw: &Gateway, view: &View) -> Result<Vec<payment_method::Model>> {
    match (&view.target, view.buyer) {
        // A buyer-locked paylink (its link carries the buyer's token), or a charge the
        // buyer accepts on its confirmation page (LiveChat: with a stored card or a new one).
        (Target::Paylink(l), Some(buyer)) if l.buyer_customer_id.is_some() => {
            usable_cards(gw, buyer).await
        }
        (Target::Payment(p), Some(buyer)) if p.require_confirmation => {
            usable_cards(gw, buyer).await
        }
        _ => Ok(vec![]),
    }
}

async fn usable_cards(gw: &Gateway, buyer: Uuid) -> Result<Vec<payment_method::Model>> {
    Ok(customers::payment_methods(&gw.db, buyer)
        .await?
        .into_iter()
        .filter(|m| !customers::is_expired(m))
        .collect())
}

/// A card as typed on the form.
#[derive(Clone, Debug, Default)]
pub struct CardForm {
    pub name: String,
    pub number: String,
    pub expiry: String,
    pub cvc: String,
}

/// A card that passed the form's rules.
#[derive(Clone, Debug)]
pub struct ValidCard {
    pub number: String,
    pub exp_month: i32,
    pub exp_year: i32,
}

fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.chars().rev().enumerate() {
        let mut d = c.to_digit(10).unwrap_or(0);
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// Checks the form; errors are (field, message) pairs for the page to show by the field.
pub fn validate(form: &CardForm) -> std::result::Result<ValidCard, Vec<(&'static str, String)>> {
    let mut errors = vec![];
    let name = form.name.trim();
    if name.is_empty() {
        errors.push(("name", "Enter the name on the card.".to_string()));
    } else if name.chars().count() > 30
        || !name
            .chars()
            .all(|c| c.is_ascii_alphabetic() || " '.-".contains(c))
    {
        errors.push((
            "name",
            "Use Latin letters, spaces and ' . - only, at most 30 characters.".to_string(),
        ));
    }
    let number: String = form
        .number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if number.is_empty() {
        errors.push(("number", "Enter the card number.".to_string()));
    } else if !number.chars().all(|c| c.is_ascii_digit())
        || number.len() > 19
        || number.len() < 12
        || !luhn(&number)
    {
        errors.push(("number", "This card number is not valid.".to_string()));
    }
    let (mut exp_month, mut exp_year) = (0, 0);
    match form.expiry.trim().split_once('/') {
        Some((m, y)) if m.trim().len() <= 2 && y.trim().len() == 2 => {
            exp_month = m.trim().parse().unwrap_or(0);
            exp_year = 2000 + y.trim().parse::<i32>().unwrap_or(-3000);
            let now = crate::db::now();
            let month_now = i32::try_from(now.month()).unwrap_or(12);
            if !(1..=12).contains(&exp_month) || exp_year < 2000 {
                errors.push(("expiry", "Enter the expiry as MM/YY.".to_string()));
            } else if exp_year < now.year() || (exp_year == now.year() && exp_month < month_now) {
                errors.push(("expiry", "This card has expired.".to_string()));
            }
        }
        _ => errors.push(("expiry", "Enter the expiry as MM/YY.".to_string())),
    }
    let cvc = form.cvc.trim();
    if !(3..=4).contains(&cvc.len()) || !cvc.chars().all(|c| c.is_ascii_digit()) {
        errors.push(("cvc", "Enter the 3 or 4 digit security code.".to_string()));
    }
    if errors.is_empty() {
        Ok(ValidCard {
            number,
            exp_month,
            exp_year,
        })
    } else {
        Err(errors)
    }
}

/// How the buyer pays.
#[derive(Clone, Debug)]
pub enum CardChoice {
    New {
        card: ValidCard,
        holder: String,
        remember: bool,
    },
    Stored(Uuid),
    /// A card stored before its 3-D Secure challenge, back from the challenge.
    Authenticated {
        method_id: Uuid,
        authentication: String,
        remember: bool,
    },
}

/// The result of a pay attempt.
#[derive(Clone, Debug)]
pub enum PayOutcome {
    /// PAID or HOLD.
    Succeeded(payment::Model),
    /// The card was declined; the page may be tried again with another card.
    Declined { message: String },
    /// The acquirer has not answered yet.
    Pending(payment::Model),
    /// A card the acquirer refused to tokenize: an error for the number field.
    InvalidCard(String),
    /// The page no longer takes payment.
    Gone(String),
    /// The card needs 3-D Secure: send the buyer to this challenge page.
    Challenge(String),
}

/// The page's code (for URLs back to it).
pub fn code_of(view: &View) -> String {
    match &view.target {
        Target::Paylink(l) => l.code.clone(),
        Target::Payment(p) => p.checkout_code.clone().unwrap_or_default(),
    }
}

/// Stores a card that needs 3-D Secure and starts its challenge; the buyer comes back to
/// `/pay/{code}/3ds`, which pays with [`CardChoice::Authenticated`].
async fn challenge(
    gw: &Gateway,
    view: &View,
    token: CardToken,
    remember: bool,
    buyer: Option<&str>,
) -> Result<PayOutcome> {
    let caller = view.caller();
    let pm = customers::store_card(&gw.db, &caller, None, token).await?;
    let mut url = reqwest::Url::parse(&format!(
        "{}/pay/{}/3ds",
        gw.settings.public_url.trim_end_matches('/'),
        code_of(view)
    ))
    .map_err(|e| ServiceError::Internal(format!("public URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("method", &pm.id.to_string())
        .append_pair("remember", if remember { "1" } else { "0" });
    if let Some(b) = buyer {
        url.query_pairs_mut().append_pair("buyer", b);
    }
    let auth = gw
        .acquirer
        .start_authentication(&pm.token, view.total, &view.currency, url.as_str())
        .await
        .map_err(|e| ServiceError::Internal(format!("3-D Secure: {e}")))?;
    Ok(PayOutcome::Challenge(auth.challenge_url))
}

/// Pays a page: tokenizes a new card (never keeping its number), makes or reuses the
/// payment, records the operation and its job, and waits for the worker's answer.
pub async fn pay(
    gw: &Gateway,
    view: &View,
    choice: CardChoice,
    buyer: Option<&str>,
) -> Result<PayOutcome> {
    if let Some(reason) = &view.gone {
        return Ok(PayOutcome::Gone(reason.clone()));
    }
    let caller = view.caller();
    let (token, remember, holder): (Option<CardToken>, bool, Option<String>) = match &choice {
        CardChoice::New {
            card,
            holder,
            remember,
        } => {
            match gw
                .acquirer
                .tokenize(&card.number, card.exp_month, card.exp_year)
                .await
            {
                Ok(t) if t.needs_3ds() => return challenge(gw, view, t, *remember, buyer).await,
                Ok(t) => (Some(t), *remember, Some(holder.clone())),
                Err(TokenizeError::Rejected { message, .. }) => {
                    return Ok(PayOutcome::InvalidCard(message));
                }
                Err(TokenizeError::Unavailable(m)) => {
                    return Err(ServiceError::Internal(format!("tokenize: {m}")));
                }
            }
        }
        CardChoice::Stored(_) => (None, false, None),
        CardChoice::Authenticated {
            method_id,
            authentication,
            remember,
        } => {
            let pm = customers::payment_method_any(&gw.db, &caller, *method_id).await?;
            let auth = gw.acquirer.authentication(authentication).await;
            let ok = auth.as_ref().is_ok_and(|a| {
                a.status == "authenticated" && a.token == pm.token && a.amount == view.total
            });
            if !ok {
                return Ok(PayOutcome::Declined {
                    message: "Card authentication failed. Try again or use another card.".into(),
                });
            }
            (None, *remember, None)
        }
    };
    let txn = gw.db.begin().await?;
    // Lock what is being paid, and check again that it still takes payment.
    let p = match &view.target {
        Target::Payment(p) => {
            let p = payments::lock_any(&txn, p.id).await?;
            if !payable(&p, payments::status_of(&p)?) {
                return Ok(PayOutcome::Gone(
                    "This payment has already been made.".into(),
                ));
            }
            p
        }
        Target::Paylink(l) => {
            let link = paylink::Entity::find_by_id(l.id)
                .lock_exclusive()
                .one(&txn)
                .await?
                .ok_or(ServiceError::NotFound)?;
            if link.status != paylinks::AVAILABLE || link.expires_at <= crate::db::now() {
                return Ok(PayOutcome::Gone(
                    "This payment link is no longer available.".into(),
                ));
            }
            match open_payment(&txn, link.id).await? {
                Some(p) => p,
                None => payments::create_for_paylink(&txn, &link).await?,
            }
        }
    };
    // A zero-amount payment is a card check: its card is always kept.
    let force = p.force_recurring || remember || p.amount == 0;
    // The customer a remembered card belongs to: the payment's, or a new one.
    let customer_id = match (p.customer_id, force) {
        (Some(c), _) => Some(c),
        (None, true) => {
            let new = customers::NewCustomer {
                name: holder.clone(),
                ..Default::default()
            };
            Some(customers::create(&txn, &caller, &new).await?.id)
        }
        (None, false) => None,
    };
    let method_id = match (&choice, token) {
        (CardChoice::Stored(id), _) => {
            let buyer = view.buyer.ok_or(ServiceError::NotFound)?;
            customers::usable_method(&txn, &caller, buyer, Some(*id))
                .await?
                .id
        }
        (CardChoice::Authenticated { method_id, .. }, _) => {
            let pm = customers::payment_method_any(&txn, &caller, *method_id).await?;
            if force && pm.customer_id.is_none() {
                customers::attach(&txn, pm.clone(), customer_id).await?;
            }
            pm.id
        }
        (_, Some(token)) => match (force, customer_id) {
            (true, Some(c)) => customers::remember_card(&txn, &caller, c, token).await?.id,
            _ => customers::store_card(&txn, &caller, None, token).await?.id,
        },
        (_, None) => return Err(ServiceError::Internal("no card".into())),
    };
    let mut row: payment::ActiveModel = p.clone().into();
    row.payment_method_id = Set(Some(method_id));
    row.customer_id = Set(customer_id);
    row.force_recurring = Set(force);
    let (kind, pending, event) = payments::charge_or_authorize(view.authorize_only);
    let authentication = match &choice {
        CardChoice::Authenticated { authentication, .. } => Some(authentication.as_str()),
        _ => None,
    };
    let (op, job) = payments::start_operation(
        &txn,
        &p,
        row,
        payments::Start {
            kind,
            amount: p.amount,
            reason: Some("hosted page".into()),
            authentication,
            pending,
            event,
            history: "paid on the hosted page",
        },
    )
    .await?;
    txn.commit().await?;
    gw.push_and_wait(&job, op.id).await?;
    let p = payment::Entity::find_by_id(p.id)
        .one(&gw.db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let op = entity::operation::Entity::find_by_id(op.id)
        .one(&gw.db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    Ok(match payments::status_of(&p)? {
        PaymentStatus::Paid
        | PaymentStatus::Hold
        | PaymentStatus::Accepted
        | PaymentStatus::Preauthorized => PayOutcome::Succeeded(p),
        s if s.is_pending() => PayOutcome::Pending(p),
        PaymentStatus::Blocked => PayOutcome::Gone("This payment was refused.".into()),
        _ => PayOutcome::Declined {
            message: decline_message(op.error_code.as_deref(), op.error_message.as_deref()),
        },
    })
}

fn decline_message(code: Option<&str>, message: Option<&str>) -> String {
    match code {
        Some("CARD_DECLINED") => "Your card was declined. Try another card.".into(),
        Some("INSUFFICIENT_FUNDS") => "Your card has insufficient funds. Try another card.".into(),
        _ => message
            .map(|m| format!("The payment did not go through: {m}"))
            .unwrap_or_else(|| "The payment did not go through.".into()),
    }
}

/// In the transaction where a hosted payment succeeded: its paylink is USED, and a
/// remembered card stays on the customer.
pub async fn after_success(conn: &impl ConnectionTrait, p: &payment::Model) -> Result<()> {
    if let Some(link) = p.paylink_id {
        paylinks::mark_used(conn, link).await?;
    }
    Ok(())
}

/// Looks a payment up by id for the receipt of a page.
pub async fn payment_of_target(
    gw: &Gateway,
    target: &Target,
    id: Uuid,
) -> Result<Option<payment::Model>> {
    let p = payment::Entity::find_by_id(id).one(&gw.db).await?;
    Ok(p.filter(|p| match target {
        Target::Payment(t) => t.id == p.id,
        Target::Paylink(l) => p.paylink_id == Some(l.id),
    }))
}

/// A charge that needs the buyer's consent, by its id (`/confirm/{id}`).
pub async fn find_confirmation(gw: &Gateway, id: &str) -> Result<Option<Target>> {
    let Ok(id) = id.parse::<Uuid>() else {
        return Ok(None);
    };
    Ok(payment::Entity::find_by_id(id)
        .filter(payment::Column::RequireConfirmation.eq(true))
        .one(&gw.db)
        .await?
        .map(|p| Target::Payment(Box::new(p))))
}

/// The buyer declines a charge: DECLINED, for good.
pub async fn decline(gw: &Gateway, view: &View) -> Result<Option<payment::Model>> {
    let Target::Payment(p) = &view.target else {
        return Ok(None);
    };
    let txn = gw.db.begin().await?;
    let p = payments::lock_any(&txn, p.id).await?;
    if payments::status_of(&p)? != PaymentStatus::PendingConfirmation {
        return Ok(None);
    }
    let p = payments::transition(
        &txn,
        &p,
        p.clone().into(),
        PaymentStatus::Declined,
        "declined by the buyer",
        None,
        "payment.declined",
    )
    .await?;
    txn.commit().await?;
    Ok(Some(p))
}

/// Where the buyer of a consent charge goes back to: `returnUrl?id=…&type=direct_charge`.
pub fn return_url(p: &payment::Model) -> Option<String> {
    let mut url = reqwest::Url::parse(p.return_url.as_deref()?).ok()?;
    url.query_pairs_mut()
        .append_pair("id", &p.id.to_string())
        .append_pair("type", "direct_charge");
    Some(url.to_string())
}

/// Records nothing: a cancel only sends the buyer back; the payment stays payable.
pub fn cancel_uri(view: &View) -> Option<String> {
    view.cancel_uri.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name: &str, number: &str, expiry: &str, cvc: &str) -> CardForm {
        CardForm {
            name: name.into(),
            number: number.into(),
            expiry: expiry.into(),
            cvc: cvc.into(),
        }
    }

    #[test]
    fn the_card_form_rules() {
        assert!(validate(&form("Ada Lovelace", "4242 4242 4242 4242", "12/49", "123")).is_ok());
        let errs = validate(&form("Ada_1", "4242424242424241", "13/49", "12")).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, vec!["name", "number", "expiry", "cvc"]);
        let errs = validate(&form(
            "O'Neil-Smith Jr.",
            "4242424242424242",
            "01/20",
            "1234",
        ))
        .unwrap_err();
        assert_eq!(errs[0].0, "expiry");
        assert!(validate(&form(&"A".repeat(31), "4242424242424242", "12/49", "123")).is_err());
    }
}
