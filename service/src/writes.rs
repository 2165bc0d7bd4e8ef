//! Writes that commit together, sent as few statements as the database allows.
//!
//! A charge writes five rows in five tables, and the worker's answer four more. Each
//! statement is a round trip, and on PostgreSQL each costs the server about as much as the
//! row it writes. So on PostgreSQL the writes go as one statement, each a data-modifying
//! `WITH` clause: all run to completion on the same snapshot, and foreign keys are checked at
//! the statement's end, so a row may reference another written in the same batch. One
//! statement is atomic on its own: outside a transaction it needs no BEGIN and COMMIT.
//! SQLite has no data-modifying `WITH`; there they run one after another, in a transaction.
//!
//! Rules for what goes into one batch: no two writes touch the same row, and none reads
//! what another writes (they all see the database as it was before the batch).
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, Func, InsertStatement, IntoIden, IntoTableRef, Query,
    SelectStatement, SubQueryStatement, WithClause, WithQuery,
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, Iterable, QueryResult,
    RuntimeErr, Statement, TransactionTrait,
};

use crate::autocommit::Autocommit;
use crate::error::{Result, ServiceError};

#[derive(Clone, Debug, Default)]
pub struct Writes(Vec<SubQueryStatement>);

impl Writes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an INSERT, UPDATE or DELETE (without RETURNING).
    pub fn add(&mut self, write: impl Into<SubQueryStatement>) -> &mut Self {
        self.0.push(write.into());
        self
    }

    /// Adds another batch's writes after these.
    pub fn append(&mut self, other: Writes) -> &mut Self {
        self.0.extend(other.0);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs the writes in the caller's transaction (or as one atomic statement, on
    /// PostgreSQL, when there is none).
    pub async fn run(self, conn: &impl ConnectionTrait) -> Result<()> {
        let backend = conn.get_database_backend();
        if self.as_one_statement(backend) {
            let done = Query::select().expr(Expr::val(1)).to_owned();
            conn.execute_raw(build(backend, then(self.with_clause(), done)))
                .await?;
        } else {
            for write in self.0 {
                conn.execute_raw(build(backend, write)).await?;
            }
        }
        Ok(())
    }

    /// Runs the writes and then `query` (a statement with RETURNING, say), and answers its
    /// rows. On PostgreSQL it is one statement: the writes are its `WITH` clauses, so they
    /// must not touch the rows `query` touches.
    pub async fn run_then(
        self,
        conn: &impl ConnectionTrait,
        query: impl Into<SubQueryStatement>,
    ) -> Result<Vec<QueryResult>> {
        let backend = conn.get_database_backend();
        if backend == DbBackend::Postgres && !self.is_empty() {
            return Ok(conn
                .query_all_raw(build(backend, then(self.with_clause(), query)))
                .await?);
        }
        self.run(conn).await?;
        Ok(conn.query_all_raw(build(backend, query.into())).await?)
    }

    /// PostgreSQL only: `guards` (SELECTs, named, that the writes refer to), then the writes,
    /// then `query`, as one statement; answers `query`'s rows. A guard runs when a write or
    /// `query` first reads it, so one that locks rows locks them before any write touches
    /// them (see `payments::settle`).
    pub async fn run_guarded(
        self,
        conn: &impl ConnectionTrait,
        guards: impl IntoIterator<Item = CommonTableExpression>,
        query: SelectStatement,
    ) -> Result<Vec<QueryResult>> {
        let backend = conn.get_database_backend();
        if backend != DbBackend::Postgres {
            return Err(ServiceError::Internal(
                "guarded writes in one statement need PostgreSQL".into(),
            ));
        }
        let mut with = WithClause::new();
        for guard in guards {
            with.cte(guard);
        }
        let with = self.ctes_into(with);
        Ok(conn
            .query_all_raw(build(backend, then(with, query)))
            .await?)
    }

    /// Runs the writes as one atomic unit, outside any transaction: one statement on
    /// PostgreSQL, a transaction of its own elsewhere.
    pub async fn commit(self, conn: &Autocommit<'_>) -> Result<()> {
        if let Autocommit::Pool(db) = conn
            && self.0.len() > 1
            && !self.as_one_statement(db.get_database_backend())
        {
            let txn = db.begin().await?;
            self.run(&txn).await?;
            txn.commit().await?;
            return Ok(());
        }
        self.run(conn).await
    }

    /// PostgreSQL only: `guard` (a SELECT), then the writes, as one atomic statement that
    /// stands only if the guard finds a row; answers whether it did. The writes need no
    /// condition each: the statement ends by asserting the guard's row (`paygate_assert`,
    /// made by a migration), and a failed assertion fails the whole statement, so nothing is
    /// written.
    pub async fn commit_if_found(
        self,
        conn: &impl ConnectionTrait,
        guard: SelectStatement,
    ) -> Result<bool> {
        let name = Alias::new("guard");
        let assert = Query::select()
            .expr(
                Func::cust(Alias::new("paygate_assert"))
                    .arg(found(&name))
                    .arg(GUARD_FOUND_NOTHING),
            )
            .to_owned();
        match self
            .run_guarded(conn, [self::guard(&name, guard)], assert)
            .await
        {
            Ok(_) => Ok(true),
            Err(ServiceError::Db(e)) if raised(&e, GUARD_FOUND_NOTHING) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether the writes go as one statement of `WITH` clauses: on PostgreSQL, when there
    /// is more than one (one goes as it is).
    fn as_one_statement(&self, backend: DbBackend) -> bool {
        backend == DbBackend::Postgres && self.0.len() > 1
    }

    fn with_clause(self) -> WithClause {
        self.ctes_into(WithClause::new())
    }

    /// The writes as `WITH` clauses `w0`, `w1`…, after those `with` has.
    fn ctes_into(self, mut with: WithClause) -> WithClause {
        for (i, write) in self.0.into_iter().enumerate() {
            // Built in place: the builder's `to_owned()` would copy the write and its values
            // (a payment's JSON snapshot among them) once more.
            let mut cte = CommonTableExpression::new();
            cte.query(write).table_name(Alias::new(format!("w{i}")));
            with.cte(cte);
        }
        with
    }
}

/// The insert of one row, only if `condition` holds when it runs: `INSERT INTO t (…)
/// SELECT … WHERE condition`. The row's set fields are its columns.
pub fn insert_if<A: ActiveModelTrait>(mut row: A, condition: Expr) -> Result<InsertStatement> {
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for column in <A::Entity as EntityTrait>::Column::iter() {
        if let Some(value) = row.take(column).into_value() {
            columns.push(column);
            values.push(Expr::val(value));
        }
    }
    insert_values_if(A::Entity::default(), columns, values, condition)
}

/// The insert into `table` of one row, `values` for `columns`, only if `condition` holds
/// when it runs: `INSERT INTO t (…) SELECT … WHERE condition`.
pub fn insert_values_if<C: IntoIden>(
    table: impl IntoTableRef,
    columns: impl IntoIterator<Item = C>,
    values: Vec<Expr>,
    condition: Expr,
) -> Result<InsertStatement> {
    let select = Query::select()
        .exprs(values)
        .and_where(condition)
        .to_owned();
    let mut insert = Query::insert();
    insert
        .into_table(table)
        .columns(columns)
        .select_from(select)
        .map_err(|e| ServiceError::Internal(format!("conditional insert: {e}")))?;
    Ok(insert)
}

/// A guard of [`Writes::run_guarded`]: `query` named `name`.
pub fn guard(name: &Alias, query: SelectStatement) -> CommonTableExpression {
    let mut cte = CommonTableExpression::new();
    cte.query(query).table_name(name.clone());
    cte
}

/// The failure [`Writes::commit_if_found`] asserts against.
const GUARD_FOUND_NOTHING: &str = "paygate: the guard of a batch of writes found nothing";

/// Whether `e` is the failure `paygate_assert` raised with `failure`.
fn raised(e: &DbErr, failure: &str) -> bool {
    if let DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) = e
        && let sea_orm::sqlx::Error::Database(e) = &**e
    {
        return e.code().as_deref() == Some("P0001") && e.message() == failure;
    }
    false
}

/// Whether the guard `name` found its row: a condition for the writes it guards.
pub fn found(name: &Alias) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(name.clone())
            .to_owned(),
    )
}

/// `with`'s clauses, then `query`, as one statement. Put together in place: sea-query's
/// `WithClause::query` copies the whole statement once more (every write and its values, a
/// payment's JSON snapshot among them): 6–7 % of `serve`'s and of the worker's CPU on a
/// charge (perf).
fn then(with: WithClause, query: impl Into<SubQueryStatement>) -> WithQuery {
    let mut statement = WithQuery::new();
    statement.with_clause(with).query(query);
    statement
}

fn build(backend: DbBackend, query: impl Into<SubQueryStatement>) -> Statement {
    match query.into() {
        SubQueryStatement::SelectStatement(q) => backend.build(&q),
        SubQueryStatement::InsertStatement(q) => backend.build(&q),
        SubQueryStatement::UpdateStatement(q) => backend.build(&q),
        SubQueryStatement::DeleteStatement(q) => backend.build(&q),
        SubQueryStatement::WithStatement(q) => backend.build(&q),
    }
}
