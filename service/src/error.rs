//! The one error type of the service crate. Every variant a client may see has a stable
//! code; internal failures are logged where they happen and shown as a generic message.
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Bad input: a stable code, the path of the failing field, a message.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: Vec<String>,
        message: String,
    },
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the API key is missing, unknown or revoked")]
    Unauthenticated,
    #[error("this idempotency key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("a request with this idempotency key is still in progress; retry later")]
    IdempotencyInProgress,
    #[error("another operation on this payment is in progress; retry when it has finished")]
    OperationInProgress,
    /// A client error stored with an idempotency key, answered again.
    #[error("{message}")]
    Replayed {
        code: String,
        field: Vec<String>,
        message: String,
    },
    /// Several client errors at once (every failing field of an input).
    #[error("{} problems with the input", .0.len())]
    Many(Vec<ServiceError>),
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("internal: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid(code: &'static str, field: &[&str], message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            code,
            field: field.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
        }
    }

    /// The stable code a client sees.
    pub fn code(&self) -> &str {
        match self {
            ServiceError::Many(list) => list.first().map(|e| e.code()).unwrap_or("INVALID"),
            ServiceError::Invalid { code, .. } => code,
            ServiceError::Replayed { code, .. } => code,
            ServiceError::NotFound => "NOT_FOUND",
            ServiceError::InvalidState(_) => "INVALID_STATE",
            ServiceError::Forbidden(_) => "FORBIDDEN",
            ServiceError::Unauthenticated => "UNAUTHENTICATED",
            ServiceError::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ServiceError::IdempotencyInProgress => "IDEMPOTENCY_IN_PROGRESS",
            ServiceError::OperationInProgress => "OPERATION_IN_PROGRESS",
            ServiceError::Config(_) | ServiceError::Db(_) | ServiceError::Internal(_) => "INTERNAL",
        }
    }

    /// The message a client sees: never the text of an internal failure.
    pub fn public_message(&self) -> String {
        match self {
            ServiceError::Many(list) => {
                list.first().map(|e| e.public_message()).unwrap_or_default()
            }
            ServiceError::Config(_) | ServiceError::Db(_) | ServiceError::Internal(_) => {
                "internal error; it has been logged".into()
            }
            other => other.to_string(),
        }
    }

    pub fn field(&self) -> Vec<String> {
        match self {
            ServiceError::Many(list) => list.first().map(|e| e.field()).unwrap_or_default(),
            ServiceError::Invalid { field, .. } | ServiceError::Replayed { field, .. } => {
                field.clone()
            }
            _ => Vec::new(),
        }
    }

    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            ServiceError::Config(_) | ServiceError::Db(_) | ServiceError::Internal(_)
        )
    }
}

impl ServiceError {
    /// One error from several: none is Ok, one stays itself.
    pub fn from_many(mut errors: Vec<ServiceError>) -> std::result::Result<(), ServiceError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ServiceError::Many(errors)),
        }
    }

    /// Every single error in it.
    pub fn each(&self) -> Vec<&ServiceError> {
        match self {
            ServiceError::Many(list) => list.iter().flat_map(|e| e.each()).collect(),
            other => vec![other],
        }
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;
