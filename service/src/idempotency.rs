//! Idempotency keys, with the semantics Stripe users know: the same key and the same input
//! within 24 h give the same answer and no second effect; the same key with other input is
//! refused; a concurrent duplicate waits for the first or is told to retry. Keys are per
//! merchant and mode.
//!
//! The claim is completed inside the transaction that makes the change, so a crash can never
//! leave a change without its recorded answer (or an answer without its change).
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use entity::idempotency_key;
use sea_orm::sea_query::{Expr, UpdateStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryTrait, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::merchants::Caller;
use crate::writes::Writes;

const IN_PROGRESS: &str = "IN_PROGRESS";
const DONE: &str = "DONE";
/// How long a stored answer is replayed.
const RETENTION: chrono::Duration = chrono::Duration::hours(24);
/// A claim whose holder died is taken over after this long.
const LOCK: chrono::Duration = chrono::Duration::seconds(60);
/// How long a duplicate waits for the first request before answering IDEMPOTENCY_IN_PROGRESS.
const WAIT: Duration = Duration::from_secs(10);
pub const MAX_KEY_LEN: usize = 255;

/// What is stored and replayed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum Stored {
    Ok {
        value: Value,
    },
    Err {
        code: String,
        field: Vec<String>,
        message: String,
        /// The other errors, when the input had several.
        #[serde(default)]
        more: Vec<(String, Vec<String>, String)>,
    },
}

/// What a mutation answers: the value recorded with its key and replayed.
pub trait Answer: Sized {
    fn recorded(&self) -> &Value;
    /// The answer of a replay: only the recorded value.
    fn replayed(value: Value) -> Self;
}

impl Answer for Value {
    fn recorded(&self) -> &Value {
        self
    }
    fn replayed(value: Value) -> Self {
        value
    }
}

/// An answer with the row the change just wrote, so the resolver need not read it back.
/// A replay has no row: the resolver reads the object as it is now.
#[derive(Clone, Debug)]
pub struct WithRow<T> {
    pub value: Value,
    pub row: Option<T>,
}

impl<T> From<Value> for WithRow<T> {
    fn from(value: Value) -> Self {
        WithRow { value, row: None }
    }
}

impl<T> Answer for WithRow<T> {
    fn recorded(&self) -> &Value {
        &self.value
    }
    fn replayed(value: Value) -> Self {
        WithRow { value, row: None }
    }
}

/// A claimed key: the change's transaction completes it with the answer.
#[derive(Clone, Debug)]
pub struct Claim {
    id: Uuid,
    /// Set once the answer is written with the change, so [`run`] need not write it again.
    completed: Arc<AtomicBool>,
}

impl Claim {
    fn new(id: Uuid) -> Claim {
        Claim {
            id,
            completed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Replaces a recorded answer (a change that grew a second step after its first
    /// transaction, such as the paylink of a failed charge).
    pub async fn overwrite(&self, conn: &impl ConnectionTrait, value: &Value) -> Result<()> {
        store(
            conn,
            self.id,
            &Stored::Ok {
                value: value.clone(),
            },
        )
        .await
    }

    /// Records the answer; call it inside the change's transaction.
    pub async fn complete(&self, conn: &impl ConnectionTrait, value: &Value) -> Result<()> {
        store(
            conn,
            self.id,
            &Stored::Ok {
                value: value.clone(),
            },
        )
        .await?;
        self.completed.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Says that a batch holding [`Claim::complete_statement`] committed.
    pub fn committed(&self) {
        self.completed.store(true, Ordering::Relaxed);
    }

    /// The update of [`Claim::complete`], for the change's batch of [`Writes`]; call
    /// [`Claim::committed`] once the batch has.
    pub fn complete_statement(&self, value: &Value) -> Result<UpdateStatement> {
        store_statement(
            self.id,
            &Stored::Ok {
                value: value.clone(),
            },
        )
    }
}

async fn store(conn: &impl ConnectionTrait, id: Uuid, stored: &Stored) -> Result<()> {
    let mut writes = Writes::new();
    writes.add(store_statement(id, stored)?);
    writes.run(conn).await
}

fn store_statement(id: Uuid, stored: &Stored) -> Result<UpdateStatement> {
    let json = serde_json::to_value(stored).map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(idempotency_key::Entity::update_many()
        .col_expr(idempotency_key::Column::State, Expr::value(DONE))
        .col_expr(idempotency_key::Column::Response, Expr::value(json))
        .filter(idempotency_key::Column::Id.eq(id))
        .into_query())
}

fn request_hash(operation: &str, input: &Value) -> String {
    let mut h = Sha256::new();
    h.update(operation.as_bytes());
    h.update([0]);
    h.update(input.to_string().as_bytes());
    hex::encode(h.finalize())
}

enum Begin {
    Fresh(Claim),
    Replay(Stored),
}

async fn begin(
    gw: &Gateway,
    caller: &Caller,
    key: &str,
    operation: &str,
    hash: &str,
) -> Result<Begin> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        // Each step is a statement of its own; the connection is given back before a pause.
        let conn = gw.autocommit().await?;
        let db = &conn;
        let now = Utc::now();
        let row = idempotency_key::ActiveModel {
            id: Set(Uuid::now_v7()),
            merchant_id: Set(caller.merchant_id),
            mode: Set(caller.mode.as_str().into()),
            key: Set(key.to_string()),
            operation_name: Set(operation.to_string()),
            request_hash: Set(hash.to_string()),
            state: Set(IN_PROGRESS.into()),
            response: Set(None),
            locked_until: Set(now + LOCK),
            created_at: Set(now),
            expires_at: Set(now + RETENTION),
        };
        match row.insert(db).await {
            Ok(row) => return Ok(Begin::Fresh(Claim::new(row.id))),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {}
            Err(e) => return Err(e.into()),
        }
        let existing = idempotency_key::Entity::find()
            .filter(idempotency_key::Column::MerchantId.eq(caller.merchant_id))
            .filter(idempotency_key::Column::Mode.eq(caller.mode.as_str()))
            .filter(idempotency_key::Column::Key.eq(key))
            .one(db)
            .await?;
        let Some(existing) = existing else { continue };
        if existing.expires_at < now {
            // An expired key is free again.
            idempotency_key::Entity::delete_by_id(existing.id)
                .exec(db)
                .await?;
            continue;
        }
        if existing.request_hash != hash {
            return Err(ServiceError::IdempotencyKeyReused);
        }
        if existing.state == DONE {
            let stored = existing
                .response
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| ServiceError::Internal("unreadable stored answer".into()))?;
            return Ok(Begin::Replay(stored));
        }
        if existing.locked_until < now {
            // Its holder died before changing anything: take the claim over, unless
            // another duplicate just did.
            let taken = idempotency_key::Entity::update_many()
                .col_expr(
                    idempotency_key::Column::LockedUntil,
                    Expr::value(now + LOCK),
                )
                .filter(idempotency_key::Column::Id.eq(existing.id))
                .filter(idempotency_key::Column::State.eq(IN_PROGRESS))
                .filter(idempotency_key::Column::LockedUntil.eq(existing.locked_until))
                .exec(db)
                .await?;
            if taken.rows_affected == 1 {
                return Ok(Begin::Fresh(Claim::new(existing.id)));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ServiceError::IdempotencyInProgress);
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `f` at most once per key. `f` gets the claim (None without a key) and must complete
/// it inside its transaction; a client error it returns is stored and replayed too. An
/// internal or retryable error frees the key so the client may try again.
pub async fn run<F, Fut, A>(
    gw: &Gateway,
    caller: &Caller,
    key: Option<&str>,
    operation: &str,
    input: &Value,
    f: F,
) -> Result<A>
where
    F: FnOnce(Option<Claim>) -> Fut,
    Fut: Future<Output = Result<A>>,
    A: Answer,
{
    let Some(key) = key else { return f(None).await };
    let key = key.trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(ServiceError::invalid(
            "INVALID_IDEMPOTENCY_KEY",
            &["idempotencyKey"],
            format!("an idempotency key has 1 to {MAX_KEY_LEN} characters"),
        ));
    }
    let hash = request_hash(operation, input);
    let claim = match begin(gw, caller, key, operation, &hash).await? {
        Begin::Replay(Stored::Ok { value }) => return Ok(A::replayed(value)),
        Begin::Replay(Stored::Err {
            code,
            field,
            message,
            more,
        }) => {
            let first = ServiceError::Replayed {
                code,
                field,
                message,
            };
            if more.is_empty() {
                return Err(first);
            }
            let rest = more
                .into_iter()
                .map(|(code, field, message)| ServiceError::Replayed {
                    code,
                    field,
                    message,
                });
            return Err(ServiceError::Many(
                std::iter::once(first).chain(rest).collect(),
            ));
        }
        Begin::Fresh(claim) => claim,
    };
    let id = claim.id;
    let completed = claim.completed.clone();
    match f(Some(claim)).await {
        // The usual way: the answer committed with the change.
        Ok(answer) if completed.load(Ordering::Relaxed) => Ok(answer),
        Ok(answer) => {
            // Completes the claim if `f` had no transaction to complete it in.
            let json = serde_json::to_value(Stored::Ok {
                value: answer.recorded().clone(),
            })
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
            idempotency_key::Entity::update_many()
                .col_expr(idempotency_key::Column::State, Expr::value(DONE))
                .col_expr(idempotency_key::Column::Response, Expr::value(json))
                .filter(idempotency_key::Column::Id.eq(id))
                .filter(idempotency_key::Column::State.eq(IN_PROGRESS))
                .exec(&gw.autocommit().await?)
                .await?;
            Ok(answer)
        }
        Err(e) if e.is_internal() || matches!(e, ServiceError::OperationInProgress) => {
            // Nothing was changed (the change and the claim commit together): free the key.
            let freed = match gw.autocommit().await {
                Ok(db) => idempotency_key::Entity::delete_many()
                    .filter(idempotency_key::Column::Id.eq(id))
                    .filter(idempotency_key::Column::State.eq(IN_PROGRESS))
                    .exec(&db)
                    .await
                    .map(|_| ())
                    .map_err(ServiceError::from),
                Err(e) => Err(e),
            };
            if let Err(del) = freed {
                tracing::warn!(error = %del, "could not free an idempotency key");
            }
            Err(e)
        }
        Err(e) => {
            let more = e
                .each()
                .iter()
                .skip(1)
                .map(|x| (x.code().to_string(), x.field(), x.public_message()))
                .collect();
            let stored = Stored::Err {
                code: e.code().to_string(),
                field: e.field(),
                message: e.public_message(),
                more,
            };
            store(&gw.autocommit().await?, id, &stored).await?;
            Err(e)
        }
    }
}

/// Deletes answers older than the retention period.
pub async fn sweep(db: &DatabaseConnection) -> Result<u64> {
    let res = idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
