//! Which of a payment's columns the fields of `Payment` read. A page of payments selects
//! only those: decoding all 41 columns of 21 payments was the largest part of a page's cost
//! when the client asked for two fields (perf, list benchmark).
use async_graphql::SelectionField;
use entity::payment::Column as C;
use service::payments::Columns;

/// The columns a field's resolver reads. A field not named here reads them all, so a field
/// added to `Payment` and forgotten here costs speed, never a wrong answer; a test compares
/// every field read alone in a page with the same field of the whole payment.
fn read_by(field: &str) -> Option<&'static [C]> {
    Some(match field {
        "__typename" => &[],
        // The lists of a payment are read by its id.
        "id" | "transactionData" | "items" | "operations" | "statusHistory" => &[C::Id],
        "status" => &[C::Status],
        "amount" => &[C::Amount],
        "vatAmount" => &[C::VatAmount],
        "currency" => &[C::Currency],
        "captureMethod" => &[C::CaptureMethod],
        "customerId" => &[C::CustomerId],
        "paymentMethodId" => &[C::PaymentMethodId],
        "clientReference" => &[C::ClientReference],
        "description" => &[C::Description],
        "metadata" => &[C::Metadata],
        "authorizedAmount" => &[C::AuthorizedAmount],
        "capturedAmount" => &[C::CapturedAmount],
        "releasedAmount" => &[C::ReleasedAmount],
        "refundedAmount" => &[C::RefundedAmount],
        "capturableAmount" => &[C::AuthorizedAmount, C::CapturedAmount, C::ReleasedAmount],
        "refundableAmount" => &[C::CapturedAmount, C::RefundedAmount],
        "errorCode" => &[C::ErrorCode],
        "errorMessage" => &[C::ErrorMessage],
        "test" => &[C::Mode],
        "confirmationUrl" => &[C::RequireConfirmation, C::Id],
        "requireConfirmation" => &[C::RequireConfirmation],
        "returnUrl" => &[C::ReturnUrl],
        "refundAvailability" => &[C::RefundAvailability],
        "commissionPercent" => &[C::CommissionPercent],
        "commissionAmount" | "netAmount" => &[C::Amount, C::CommissionPercent],
        "isRecurringToken" => &[C::IsRecurringToken],
        "checkoutUrl" => &[C::CheckoutCode],
        "expiresAt" => &[C::CheckoutExpiresAt],
        "paylinkId" => &[C::PaylinkId],
        "forceRecurring" => &[C::ForceRecurring],
        "dueAt" => &[C::DueAt],
        "dueStrict" => &[C::DueStrict],
        "sentAt" => &[C::SentAt],
        "viewedAt" => &[C::ViewedAt],
        "authorizedAt" => &[C::AuthorizedAt],
        "paidAt" => &[C::PaidAt],
        "clearedAt" => &[C::ClearedAt],
        "settledAt" => &[C::SettledAt],
        "chargebackAmount" => &[C::ChargebackAmount],
        "createdAt" => &[C::CreatedAt],
        "updatedAt" => &[C::UpdatedAt],
        _ => return None,
    })
}

/// Whether the field is one this module knows, answered from the payment's row (a list's
/// field reads the id only, and loads the rest).
pub fn reads_row(field: &str) -> bool {
    read_by(field).is_some()
}

/// The columns that the selections of a `Payment` (each `node` of a page; more than one
/// when the query names it twice) read, fragments included.
pub fn selected<'a>(payments: impl IntoIterator<Item = SelectionField<'a>>) -> Columns {
    let mut columns = Columns::NONE;
    for payment in payments {
        for field in payment.selection_set() {
            match read_by(field.name()) {
                Some(read) => columns = read.iter().fold(columns, |all, c| all.with(*c)),
                None => return Columns::ALL,
            }
        }
    }
    columns
}
