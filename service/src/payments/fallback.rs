//! SPiD's "failures with new paylink option": a charge that cannot be made with a stored
//! card answers with the error and a paylink for the same items and customer, so the buyer
//! adds a card and pays.
use entity::payment;
use serde_json::{Value, json};

use super::{ChargeCustomerInput, answered_payment, charge_customer};
use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::idempotency::{Claim, WithRow};
use crate::merchants::Caller;
use crate::paylinks::{self, ItemInput, PaylinkInput};
use crate::status::PaymentStatus;

fn paylink_for(input: &ChargeCustomerInput) -> PaylinkInput {
    let items = match (&input.items, input.amount) {
        (Some(items), _) => items
            .iter()
            .map(|i| ItemInput {
                name: Some(i.name.clone()),
                description: Some(i.description.clone().unwrap_or_else(|| i.name.clone())),
                price: Some(i.unit_price),
                vat: Some(i.vat_rate),
                quantity: i.quantity,
                currency: Some(input.currency.clone()),
                client_item_reference: i.client_item_reference.clone(),
                ..ItemInput::default()
            })
            .collect(),
        (None, amount) => vec![ItemInput {
            description: Some(
                input
                    .description
                    .clone()
                    .unwrap_or_else(|| "Payment".into()),
            ),
            price: amount,
            vat: Some(0),
            currency: Some(input.currency.clone()),
            ..ItemInput::default()
        }],
    };
    PaylinkInput {
        title: Some(
            input
                .description
                .clone()
                .unwrap_or_else(|| "Payment".into()),
        ),
        items: Some(items),
        client_reference: input.client_reference.clone(),
        buyer_customer_id: Some(input.customer_id),
        purchase_flow: Some(
            if input.capture_method == super::CaptureMethod::Manual {
                "AUTHORIZE"
            } else {
                "DIRECT"
            }
            .into(),
        ),
        ..PaylinkInput::default()
    }
}

fn paylink_id(v: &Value) -> Result<uuid::Uuid> {
    v.get("paylinkId")
        .and_then(|s| s.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ServiceError::Internal("no paylink in answer".into()))
}

/// chargeCustomer, with the paylink fallback when asked for. The answer holds `paymentId`
/// (absent when no card could be tried), `paylinkId` and the `error` that caused it.
pub async fn charge_with_fallback(
    gw: &Gateway,
    caller: &Caller,
    input: ChargeCustomerInput,
    claim: Option<Claim>,
) -> Result<WithRow<payment::Model>> {
    if !input.fallback_to_paylink {
        return charge_customer(gw, caller, input, claim).await;
    }
    match charge_customer(gw, caller, input.clone(), claim.clone()).await {
        Err(ServiceError::Invalid {
            code: "NO_PAYMENT_METHOD",
            field,
            message,
        }) => {
            let link = paylinks::create(gw, caller, &paylink_for(&input), None).await?;
            let value = json!({
                "paylinkId": paylink_id(&link)?,
                "error": {"code": "NO_PAYMENT_METHOD", "field": field, "message": message},
            });
            if let Some(claim) = claim {
                claim.overwrite(&gw.db, &value).await?;
            }
            Ok(WithRow { value, row: None })
        }
        Ok(answer) => {
            let p = match &answer.row {
                Some(p) => p.clone(),
                None => super::get(gw, caller, answered_payment(&answer.value)?).await?,
            };
            if super::status_of(&p)? != PaymentStatus::Error {
                return Ok(answer);
            }
            let link = paylinks::create(gw, caller, &paylink_for(&input), None).await?;
            let value = json!({
                "paymentId": p.id,
                "paylinkId": paylink_id(&link)?,
                "error": {"code": p.error_code, "field": [], "message": p.error_message},
            });
            if let Some(claim) = claim {
                claim.overwrite(&gw.db, &value).await?;
            }
            Ok(WithRow { value, row: None })
        }
        Err(e) => Err(e),
    }
}
