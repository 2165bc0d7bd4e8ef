//! How service errors reach clients: domain failures in the payload's `errors`, the rest
//! (unauthenticated, internal) as GraphQL errors with `extensions.code`.
use async_graphql::{ErrorExtensions, SimpleObject};
use service::ServiceError;

/// A domain failure: a stable code, the path of the input field at fault, a message.
#[derive(Clone, Debug, SimpleObject)]
pub struct UserError {
    pub code: String,
    /// Path of the failing input field, e.g. ["input", "items", "3", "unitPrice"].
    pub field: Vec<String>,
    pub message: String,
}

impl UserError {
    pub fn from_service(e: &ServiceError) -> UserError {
        let field = e.field();
        let field = if field.is_empty() {
            field
        } else {
            std::iter::once("input".to_string()).chain(field).collect()
        };
        UserError {
            code: e.code().to_string(),
            field,
            message: e.public_message(),
        }
    }
}

/// A GraphQL error with its code; internal failures are logged here and shown generically.
pub fn graphql_error(e: &ServiceError) -> async_graphql::Error {
    if e.is_internal() {
        tracing::error!(error = %e, "internal error");
    }
    async_graphql::Error::new(e.public_message()).extend_with(|_, ext| ext.set("code", e.code()))
}

/// Splits a service result into (value, payload errors); internal failures become GraphQL errors.
pub fn split<T>(r: Result<T, ServiceError>) -> async_graphql::Result<(Option<T>, Vec<UserError>)> {
    match r {
        Ok(v) => Ok((Some(v), vec![])),
        Err(e) if e.is_internal() || matches!(e, ServiceError::Unauthenticated) => {
            Err(graphql_error(&e))
        }
        Err(e) => Ok((
            None,
            e.each().into_iter().map(UserError::from_service).collect(),
        )),
    }
}
