//! Connections held for statements that stand alone on PostgreSQL: each outside any
//! transaction, so the server commits it on its own (autocommit). Reads, and writes that are
//! one atomic statement (a batch of [`crate::writes::Writes`], a guarded settling).
//!
//! sqlx's pool makes a round trip to the server every time it takes a connection back (a
//! `Sync`, then it waits for `ReadyForQuery`), to flush what a dropped transaction may have
//! left behind: about a tenth of `serve`'s CPU on a page of payments (perf, list
//! benchmark), and a message for PostgreSQL to answer too. A statement that finished outside
//! a transaction leaves nothing behind, so these connections, once taken out of the pool, go
//! back to a list of their own with no round trip. A connection is taken out of its slot
//! while its statement runs: when the request is dropped half-way, or the statement fails
//! other than by the server's refusal, the connection goes with it (closed) and a fresh one
//! takes its place. Transactions never run here: they stay on the pool, which cleans up
//! after them.
use std::sync::Mutex;
use std::time::Instant;

use sea_orm::sqlx::postgres::{PgConnection, PgPool};
use sea_orm::sqlx::{AssertSqlSafe, Connection, Postgres};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult,
    RuntimeErr, Statement,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::db::{ACQUIRE_TIMEOUT, PING_IF_IDLE_FOR};

/// The held connections of one process.
pub struct Connections {
    /// The pool they come from; none on SQLite, where statements go to the pool itself.
    pool: Option<PgPool>,
    /// Each with when it came back.
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    /// At most this many are in use at once (the pool's size).
    slots: Semaphore,
}

impl Connections {
    pub fn new(db: &DatabaseConnection, size: u32) -> Connections {
        let pool = (db.get_database_backend() == DbBackend::Postgres)
            .then(|| db.get_postgres_connection_pool().clone());
        Connections {
            pool,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(size.max(1) as usize),
        }
    }

    /// A connection for standalone statements: a held one on PostgreSQL, `db` itself
    /// elsewhere. Hold one at a time per task: a task that waits for a second while holding
    /// the first could wait on itself when all slots are taken.
    pub async fn get<'a>(&'a self, db: &'a DatabaseConnection) -> Result<Autocommit<'a>, DbErr> {
        let Some(pool) = &self.pool else {
            return Ok(Autocommit::Pool(db));
        };
        let slot = match tokio::time::timeout(ACQUIRE_TIMEOUT, self.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_)) => return Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)),
            Err(_) => return Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)),
        };
        let idle = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let conn = match idle {
            // As the pool does (`db::PING_IF_IDLE_FOR`): one idle for long is checked first,
            // so a connection the server closed meanwhile costs no request.
            Some((mut conn, since)) if since.elapsed() >= PING_IF_IDLE_FOR => {
                conn.ping().await.ok().map(|()| conn)
            }
            Some((conn, _)) => Some(conn),
            None => None,
        };
        Ok(Autocommit::Held(Held {
            set: self,
            pool,
            conn: tokio::sync::Mutex::new(conn),
            _slot: slot,
        }))
    }
}

/// A connection for statements that stand alone (see [`Connections::get`]).
pub enum Autocommit<'a> {
    /// SQLite: the pool itself, where a batch of writes takes a transaction of its own.
    Pool(&'a DatabaseConnection),
    Held(Held<'a>),
}

pub struct Held<'a> {
    set: &'a Connections,
    pool: &'a PgPool,
    conn: tokio::sync::Mutex<Option<PgConnection>>,
    _slot: SemaphorePermit<'a>,
}

impl Held<'_> {
    /// The held connection, or a fresh one from the pool if the last statement lost it.
    async fn take(&self, slot: &mut Option<PgConnection>) -> Result<PgConnection, DbErr> {
        match slot.take() {
            Some(conn) => Ok(conn),
            // Boxed: sqlx's acquire future is about 14 KB, and held inline it made every
            // statement's future that big, allocated and copied for each statement even
            // though this path is rare (4 % of `serve`'s instructions on a page of payments,
            // callgrind, list benchmark).
            None => Ok(Box::pin(self.pool.acquire())
                .await
                .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(e.into())))?
                .detach()),
        }
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        standalone(&stmt.sql)?;
        let mut slot = self.conn.lock().await;
        let mut conn = self.take(&mut slot).await?;
        let rows = query(&stmt).fetch_all(&mut conn).await;
        keep_unless_lost(&mut slot, conn, &rows);
        Ok(rows
            .map_err(query_err)?
            .into_iter()
            .map(QueryResult::from)
            .collect())
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        standalone(&stmt.sql)?;
        let mut slot = self.conn.lock().await;
        let mut conn = self.take(&mut slot).await?;
        let row = query(&stmt).fetch_optional(&mut conn).await;
        keep_unless_lost(&mut slot, conn, &row);
        Ok(row.map_err(query_err)?.map(QueryResult::from))
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        standalone(&stmt.sql)?;
        let mut slot = self.conn.lock().await;
        let mut conn = self.take(&mut slot).await?;
        let done = query(&stmt).execute(&mut conn).await;
        keep_unless_lost(&mut slot, conn, &done);
        Ok(ExecResult::from(done.map_err(exec_err)?))
    }
}

/// Puts the connection back in its slot after its statement, unless the statement failed
/// other than by the server's refusal. A refusal (the server answered with an error) leaves
/// the connection sound and outside any transaction, since the statement stood alone; it
/// can be expected, as when a batch's guard found nothing (`Writes::commit_if_found`), and a
/// new connection costs the server a process.
fn keep_unless_lost<T>(
    slot: &mut Option<PgConnection>,
    conn: PgConnection,
    outcome: &Result<T, sea_orm::sqlx::Error>,
) {
    if matches!(outcome, Ok(_) | Err(sea_orm::sqlx::Error::Database(_))) {
        *slot = Some(conn);
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.get_mut().take()
            && let Ok(mut idle) = self.set.idle.lock()
        {
            idle.push((conn, Instant::now()));
        }
    }
}

fn query(stmt: &Statement) -> sea_orm::sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt
        .values
        .clone()
        .unwrap_or_else(|| sea_orm::Values(Vec::new()));
    sea_orm::sqlx::query_with(AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

fn query_err(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(e.into()))
}

fn exec_err(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(e.into()))
}

/// Refuses transaction control: a held connection goes back to its list with no clean-up,
/// so it must never be left inside a transaction.
fn standalone(sql: &str) -> Result<(), DbErr> {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next();
    let control = [
        "BEGIN",
        "START",
        "COMMIT",
        "END",
        "ROLLBACK",
        "ABORT",
        "SAVEPOINT",
        "RELEASE",
    ];
    match first {
        Some(word) if control.iter().any(|c| c.eq_ignore_ascii_case(word)) => Err(DbErr::Custom(
            format!("{word}: transactions do not run on a connection for standalone statements"),
        )),
        _ => Ok(()),
    }
}

fn no_raw_sql() -> DbErr {
    DbErr::Custom("a connection for standalone statements takes built statements only".into())
}

#[async_trait::async_trait]
impl ConnectionTrait for Autocommit<'_> {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Autocommit::Pool(db) => db.get_database_backend(),
            Autocommit::Held(_) => DbBackend::Postgres,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Autocommit::Pool(db) => db.execute_raw(stmt).await,
            Autocommit::Held(held) => held.execute(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Autocommit::Pool(db) => db.execute_unprepared(sql).await,
            Autocommit::Held(_) => Err(no_raw_sql()),
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Autocommit::Pool(db) => db.query_one_raw(stmt).await,
            Autocommit::Held(held) => held.query_one(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Autocommit::Pool(db) => db.query_all_raw(stmt).await,
            Autocommit::Held(held) => held.query_all(stmt).await,
        }
    }
}
