//! `/pay/{code}`: the hosted checkout for paylinks and for createPayment payments.
use std::collections::HashMap;
use std::fmt::Write;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use service::checkout::{self, CardChoice, CardForm, PayOutcome, View};
use service::money::Currency;
use service::{Gateway, ServiceError};
use uuid::Uuid;

use super::html::{esc, page};

fn money(view: &View, minor: i64) -> String {
    Currency::parse(&view.currency, &[])
        .map(|c| c.format(minor))
        .unwrap_or_else(|_| format!("{minor} {}", view.currency))
}

/// Basis points as a percent for people: 2500 → "25", 1250 → "12.5".
fn percent(bp: i32) -> String {
    let text = format!("{}.{:02}", bp / 100, bp % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn respond(status: StatusCode, title: &str, body: String) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Html(page(title, &body)),
    )
        .into_response()
}

fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<div class=\"card\"><h1>{}</h1><p role=\"status\">{}</p></div>",
        esc(title),
        esc(message)
    );
    respond(status, title, body)
}

fn internal(e: ServiceError) -> Response {
    tracing::error!(error = %e, "hosted page failed");
    message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Something went wrong",
        "Please try again in a moment.",
    )
}

/// What the buyer typed, kept on an error page (never the card number or the CVC).
#[derive(Default)]
struct Typed {
    name: String,
    expiry: String,
    remember: bool,
    stored: Option<String>,
}

struct Problems {
    /// (field, message) next to the fields.
    fields: Vec<(&'static str, String)>,
    /// A message for the whole form (a declined card).
    general: Option<String>,
}

fn field_error(problems: &Problems, field: &str) -> Option<String> {
    problems
        .fields
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, m)| m.clone())
}

fn input(problems: &Problems, id: &str, label: &str, value: &str, extra: &str) -> String {
    let err = field_error(problems, id);
    let (invalid, described, err_html) = match &err {
        Some(m) => (
            " aria-invalid=\"true\"",
            format!(" aria-describedby=\"{id}-error\""),
            format!("<p class=\"error\" id=\"{id}-error\">{}</p>", esc(m)),
        ),
        None => ("", String::new(), String::new()),
    };
    format!(
        "<label for=\"{id}\">{label}</label><input type=\"text\" id=\"{id}\" name=\"{id}\" value=\"{}\"{invalid}{described} {extra}>{err_html}",
        esc(value)
    )
}

async fn render_form(
    gw: &Gateway,
    code: &str,
    view: &View,
    buyer: Option<&str>,
    typed: &Typed,
    problems: &Problems,
    status: StatusCode,
) -> Response {
    let stored = match checkout::stored_cards(gw, view).await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let mut body = String::new();
    let _ = write!(
        body,
        "<div class=\"card\"><p class=\"merchant\">{}</p><h1>{}</h1>",
        esc(&view.merchant),
        esc(&view.title)
    );
    if !problems.fields.is_empty() || problems.general.is_some() {
        let _ = write!(
            body,
            "<div class=\"alert\" role=\"alert\" tabindex=\"-1\" id=\"problems\">"
        );
        if let Some(g) = &problems.general {
            let _ = write!(body, "<strong>{}</strong>", esc(g));
        }
        if !problems.fields.is_empty() {
            let _ = write!(body, "<strong>Please correct the following:</strong><ul>");
            for (f, m) in &problems.fields {
                let _ = write!(body, "<li><a href=\"#{f}\">{}</a></li>", esc(m));
            }
            let _ = write!(body, "</ul>");
        }
        let _ = write!(body, "</div>");
    }
    let _ = write!(
        body,
        "<table><caption class=\"visually-hidden\">Items in this order</caption><thead><tr><th scope=\"col\">Item</th><th scope=\"col\" class=\"num\">Qty</th><th scope=\"col\" class=\"num\">Amount</th></tr></thead><tbody>"
    );
    for line in &view.lines {
        let mut desc = line
            .description
            .as_ref()
            .map(|d| format!("<div class=\"sub\">{}</div>", esc(d)))
            .unwrap_or_default();
        if line.quantity > 1 {
            let _ = write!(
                desc,
                "<div class=\"sub\">{} each</div>",
                money(view, line.unit_price)
            );
        }
        let vat = if line.vat_rate > 0 {
            format!(
                "<div class=\"sub\">incl. {} VAT ({}%)</div>",
                money(view, line.vat_amount),
                percent(line.vat_rate)
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr><td>{}{desc}</td><td class=\"num\">{}</td><td class=\"num\">{}{vat}</td></tr>",
            esc(&line.name),
            line.quantity,
            money(view, line.total)
        );
    }
    let _ = write!(
        body,
        "</tbody><tfoot><tr><td colspan=\"2\">VAT included</td><td class=\"num\">{}</td></tr><tr class=\"total\"><td colspan=\"2\">Total</td><td class=\"num\" id=\"total\">{}</td></tr></tfoot></table>",
        money(view, view.vat_total),
        money(view, view.total)
    );
    let _ = write!(
        body,
        "<ul class=\"options\" aria-label=\"Accepted payment methods\">"
    );
    for o in &view.options {
        let label = o.name.clone().unwrap_or_else(|| {
            let words = o.kind.replace('_', " ").to_lowercase();
            let mut chars = words.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        });
        let _ = write!(body, "<li>{}</li>", esc(&label));
    }
    let _ = write!(body, "</ul>");
    if !view.accepts_cards() {
        let _ = write!(
            body,
            "<p>Card payment is not offered for this link.</p></div>"
        );
        return respond(status, &view.title, body);
    }
    let consent = is_consent(view);
    let action = if consent {
        format!("/confirm/{code}")
    } else {
        format!("/pay/{code}")
    };
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{}\" novalidate>",
        esc(&action)
    );
    if let Some(b) = buyer {
        let _ = write!(
            body,
            "<input type=\"hidden\" name=\"buyer\" value=\"{}\">",
            esc(b)
        );
    }
    if !stored.is_empty() {
        let _ = write!(
            body,
            "<fieldset class=\"stored\"><legend>Pay with a saved card</legend>"
        );
        for (i, m) in stored.iter().enumerate() {
            let id = m.id.to_string();
            let checked = typed.stored.as_deref().map(|s| s == id).unwrap_or(i == 0);
            let _ = write!(
                body,
                "<label><input type=\"radio\" name=\"stored\" value=\"{id}\"{}> {} ending in {} (expires {:02}/{})</label>",
                if checked { " checked" } else { "" },
                esc(&m.brand),
                esc(&m.last4),
                m.exp_month,
                m.exp_year % 100
            );
        }
        let new_checked = typed.stored.as_deref() == Some("new");
        let _ = write!(
            body,
            "<label><input type=\"radio\" name=\"stored\" value=\"new\"{}> A new card</label></fieldset>",
            if new_checked { " checked" } else { "" }
        );
    }
    let _ = write!(body, "<fieldset><legend>Card details</legend>");
    body.push_str(&input(
        problems,
        "name",
        "Name on card",
        &typed.name,
        "autocomplete=\"cc-name\" maxlength=\"30\"",
    ));
    body.push_str(&input(
        problems,
        "number",
        "Card number",
        "",
        "autocomplete=\"cc-number\" inputmode=\"numeric\" maxlength=\"23\"",
    ));
    let _ = write!(body, "<div class=\"row\"><div>");
    body.push_str(&input(
        problems,
        "expiry",
        "Expiry (MM/YY)",
        &typed.expiry,
        "autocomplete=\"cc-exp\" inputmode=\"numeric\" placeholder=\"MM/YY\" maxlength=\"5\"",
    ));
    let _ = write!(body, "</div><div>");
    body.push_str(&input(
        problems,
        "cvc",
        "Security code",
        "",
        "autocomplete=\"cc-csc\" inputmode=\"numeric\" maxlength=\"4\"",
    ));
    let _ = write!(
        body,
        "</div></div><label class=\"check\"><input type=\"checkbox\" name=\"remember\" value=\"yes\"{}> Remember this card for next time</label></fieldset>",
        if typed.remember { " checked" } else { "" }
    );
    let (verb, pay_id, back_value, back_id, back_label) = if consent {
        (
            "Accept",
            "accept",
            "decline",
            "decline",
            "Decline this charge",
        )
    } else if view.total == 0 {
        // A zero-amount card check (preauthorization).
        (
            "Check and save card",
            "pay",
            "cancel",
            "cancel",
            "Cancel and go back",
        )
    } else if view.authorize_only {
        ("Authorize", "pay", "cancel", "cancel", "Cancel and go back")
    } else {
        ("Pay", "pay", "cancel", "cancel", "Cancel and go back")
    };
    let _ = write!(
        body,
        "<button type=\"submit\" name=\"action\" value=\"pay\" id=\"{pay_id}\">{verb} {}</button>\
         <button type=\"submit\" name=\"action\" value=\"{back_value}\" class=\"secondary\" id=\"{back_id}\">{back_label}</button>\
         </form><p class=\"secure\">Your card details go straight to the card acquirer; this shop never sees your card number.</p></div>",
        if view.total == 0 {
            String::new()
        } else {
            money(view, view.total)
        }
    );
    respond(status, &view.title, body)
}

async fn load(gw: &Gateway, code: &str) -> Result<View, Response> {
    match checkout::find(gw, code).await {
        Ok(Some(target)) => checkout::view(gw, target).await.map_err(internal),
        Ok(None) => Err(message_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no payment at this address.",
        )),
        Err(e) => Err(internal(e)),
    }
}

fn gone(view: &View) -> Option<Response> {
    view.gone
        .as_ref()
        .map(|reason| message_page(StatusCode::GONE, "This link can no longer be paid", reason))
}

fn forbidden() -> Response {
    message_page(
        StatusCode::FORBIDDEN,
        "This link is for someone else",
        "This payment link can only be opened from the address that was sent to its buyer.",
    )
}

pub async fn show(
    State(gw): State<Gateway>,
    Path(code): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let view = match load(&gw, &code).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(r) = gone(&view) {
        return r;
    }
    let buyer = query.get("buyer").map(String::as_str);
    match checkout::buyer_allowed(&gw, &view, buyer) {
        Ok(true) => {}
        Ok(false) => return forbidden(),
        Err(e) => return internal(e),
    }
    if let Err(e) = checkout::mark_viewed(&gw, &view.target).await {
        // The page still works; only the VIEWED mark is missing.
        tracing::warn!(error = %e, "could not mark the payment viewed");
    }
    let problems = Problems {
        fields: vec![],
        general: None,
    };
    render_form(
        &gw,
        &code,
        &view,
        buyer,
        &Typed::default(),
        &problems,
        StatusCode::OK,
    )
    .await
}

fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match reqwest::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        Err(_) => uri.to_string(),
    }
}

fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location.to_string()),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response()
}

pub async fn submit(
    State(gw): State<Gateway>,
    Path(code): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let view = match load(&gw, &code).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    handle_post(gw, code, view, form).await
}

/// A charge the buyer must accept: is this view one?
fn is_consent(view: &View) -> bool {
    matches!(&view.target, checkout::Target::Payment(p) if p.require_confirmation)
}

async fn load_confirmation(gw: &Gateway, id: &str) -> Result<View, Response> {
    match checkout::find_confirmation(gw, id).await {
        Ok(Some(target)) => checkout::view(gw, target).await.map_err(internal),
        Ok(None) => Err(message_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no charge to confirm at this address.",
        )),
        Err(e) => Err(internal(e)),
    }
}

/// `GET /confirm/{id}`: the buyer sees the charge and accepts or declines it.
pub async fn confirm_show(State(gw): State<Gateway>, Path(id): Path<String>) -> Response {
    let view = match load_confirmation(&gw, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(r) = gone(&view) {
        return r;
    }
    let problems = Problems {
        fields: vec![],
        general: None,
    };
    render_form(
        &gw,
        &id,
        &view,
        None,
        &Typed::default(),
        &problems,
        StatusCode::OK,
    )
    .await
}

pub async fn confirm_submit(
    State(gw): State<Gateway>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let view = match load_confirmation(&gw, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if form.get("action").map(String::as_str) == Some("decline") {
        return match checkout::decline(&gw, &view).await {
            Ok(Some(p)) => match checkout::return_url(&p) {
                Some(url) => see_other(&url),
                None => message_page(
                    StatusCode::OK,
                    "Charge declined",
                    "You declined the charge. Nothing was charged.",
                ),
            },
            Ok(None) => gone(&view).unwrap_or_else(|| {
                message_page(
                    StatusCode::GONE,
                    "This charge can no longer be changed",
                    "It was already answered.",
                )
            }),
            Err(e) => internal(e),
        };
    }
    handle_post(gw, id, view, form).await
}

async fn handle_post(
    gw: Gateway,
    code: String,
    view: View,
    form: HashMap<String, String>,
) -> Response {
    let buyer = form.get("buyer").map(String::as_str);
    match checkout::buyer_allowed(&gw, &view, buyer) {
        Ok(true) => {}
        Ok(false) => return forbidden(),
        Err(e) => return internal(e),
    }
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    if field("action") == "cancel" {
        return match checkout::cancel_uri(&view) {
            Some(uri) => see_other(&uri),
            None => message_page(
                StatusCode::OK,
                "Payment cancelled",
                "You cancelled the payment. Nothing was charged.",
            ),
        };
    }
    if let Some(r) = gone(&view) {
        return r;
    }
    let typed = Typed {
        name: field("name"),
        expiry: field("expiry"),
        remember: form.contains_key("remember"),
        stored: form.get("stored").cloned(),
    };
    let choice = match typed
        .stored
        .as_deref()
        .filter(|s| *s != "new")
        .map(str::parse::<Uuid>)
    {
        Some(Ok(id)) => CardChoice::Stored(id),
        Some(Err(_)) => {
            let problems = Problems {
                fields: vec![],
                general: Some("Choose a saved card or a new card.".into()),
            };
            return render_form(
                &gw,
                &code,
                &view,
                buyer,
                &typed,
                &problems,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        None => {
            let card = CardForm {
                name: field("name"),
                number: field("number"),
                expiry: field("expiry"),
                cvc: field("cvc"),
            };
            match checkout::validate(&card) {
                Ok(valid) => CardChoice::New {
                    card: valid,
                    holder: typed.name.trim().to_string(),
                    remember: typed.remember,
                },
                Err(fields) => {
                    let problems = Problems {
                        fields,
                        general: None,
                    };
                    return render_form(
                        &gw,
                        &code,
                        &view,
                        buyer,
                        &typed,
                        &problems,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await;
                }
            }
        }
    };
    let outcome = checkout::pay(&gw, &view, choice, buyer).await;
    respond_to(&gw, &code, &view, buyer, &typed, outcome).await
}

/// The page's answer to a pay attempt.
async fn respond_to(
    gw: &Gateway,
    code: &str,
    view: &View,
    buyer: Option<&str>,
    typed: &Typed,
    outcome: Result<PayOutcome, ServiceError>,
) -> Response {
    let again = |general: Option<String>, fields: Vec<(&'static str, String)>, status| async move {
        render_form(
            gw,
            code,
            view,
            buyer,
            typed,
            &Problems { fields, general },
            status,
        )
        .await
    };
    match outcome {
        Ok(PayOutcome::Succeeded(p)) if p.require_confirmation => match checkout::return_url(&p) {
            Some(url) => see_other(&url),
            None => message_page(
                StatusCode::OK,
                "Charge accepted",
                "Thank you. The merchant will complete the charge.",
            ),
        },
        Ok(PayOutcome::Succeeded(p)) => {
            let id = p.id.to_string();
            match &view.redirect_uri {
                Some(uri) => see_other(&with_query(
                    uri,
                    &[("paymentId", &id), ("status", &p.status)],
                )),
                None => see_other(&format!("/pay/{code}/receipt?payment={id}")),
            }
        }
        Ok(PayOutcome::Pending(p)) => see_other(&format!("/pay/{code}/receipt?payment={}", p.id)),
        Ok(PayOutcome::Challenge(url)) => see_other(&url),
        Ok(PayOutcome::Declined { message }) => {
            again(Some(message), vec![], StatusCode::PAYMENT_REQUIRED).await
        }
        Ok(PayOutcome::InvalidCard(message)) => {
            again(
                None,
                vec![("number", message)],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Ok(PayOutcome::Gone(reason)) => {
            message_page(StatusCode::GONE, "This link can no longer be paid", &reason)
        }
        Err(ServiceError::Invalid { message, .. }) => {
            again(Some(message), vec![], StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(ServiceError::NotFound) => {
            again(
                Some("That card is not available; use another card.".into()),
                vec![],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => internal(e),
    }
}

/// `/pay/{code}/3ds`: back from the 3-D Secure challenge; pays if the card was authenticated.
pub async fn three_ds_return(
    State(gw): State<Gateway>,
    Path(code): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let view = match load(&gw, &code).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let buyer = query.get("buyer").map(String::as_str);
    match checkout::buyer_allowed(&gw, &view, buyer) {
        Ok(true) => {}
        Ok(false) => return forbidden(),
        Err(e) => return internal(e),
    }
    if let Some(r) = gone(&view) {
        return r;
    }
    let typed = Typed::default();
    let (Some(Ok(method_id)), Some(authentication)) = (
        query.get("method").map(|m| m.parse::<Uuid>()),
        query.get("authentication"),
    ) else {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Something is missing",
            "This address is incomplete.",
        );
    };
    let choice = CardChoice::Authenticated {
        method_id,
        authentication: authentication.clone(),
        remember: query.get("remember").map(String::as_str) == Some("1"),
    };
    let outcome = checkout::pay(&gw, &view, choice, buyer).await;
    respond_to(&gw, &code, &view, buyer, &typed, outcome).await
}

pub async fn receipt(
    State(gw): State<Gateway>,
    Path(code): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let view = match load(&gw, &code).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let payment = match query.get("payment").map(|s| s.parse::<Uuid>()) {
        Some(Ok(id)) => checkout::payment_of_target(&gw, &view.target, id).await,
        _ => checkout::latest_payment(&gw, &view.target).await,
    };
    let p = match payment {
        Ok(Some(p)) => p,
        Ok(None) => {
            return message_page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such payment.",
            );
        }
        Err(e) => return internal(e),
    };
    let (title, message, refresh) = match p.status.as_str() {
        "PAID" => (
            "Payment received",
            format!(
                "Thank you. {} was paid to {}.",
                money(&view, p.captured_amount),
                view.merchant
            ),
            false,
        ),
        "PREAUTHORIZED" => (
            "Card saved",
            format!(
                "Thank you. Your card was checked and saved for {}; nothing was charged.",
                view.merchant
            ),
            false,
        ),
        "HOLD" => (
            "Payment authorized",
            format!(
                "Thank you. {} is reserved on your card for {}.",
                money(&view, p.authorized_amount),
                view.merchant
            ),
            false,
        ),
        s if s.starts_with("PENDING") => (
            "Processing your payment",
            "Your payment is being processed. This page refreshes by itself.".into(),
            true,
        ),
        _ => (
            "Payment not completed",
            "The payment was not completed.".into(),
            false,
        ),
    };
    let mut body = format!(
        "<div class=\"card\"><p class=\"merchant\">{}</p><h1>{}</h1><div class=\"ok\" role=\"status\">{}</div><p class=\"sub\">Reference: <span id=\"payment-id\">{}</span> · Status: <span id=\"payment-status\">{}</span></p></div>",
        esc(&view.merchant),
        esc(title),
        esc(&message),
        p.id,
        esc(&p.status)
    );
    if refresh {
        body = format!("<meta http-equiv=\"refresh\" content=\"2\">{body}");
    }
    respond(StatusCode::OK, title, body)
}
