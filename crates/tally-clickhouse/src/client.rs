//! The one place Tally talks to ClickHouse: a `clickhouse::Client` set up for
//! every server version Tally supports (no LZ4, no row-type validation, the
//! database and credentials as URL parameters — ClickHouse 18.16 ignores the
//! header forms), statements built with [`Sql`] and their values bound through
//! the client, which escapes them, and errors mapped to [`StoreError`].

use crate::config::ClickHouseConfig;
use clickhouse::{Client, RowOwned, RowRead};
use tally_core::StoreError;
use tally_query::sql::{Dialect, SqlParam};

/// Instants are stored as Int64 microseconds since the epoch (ClickHouse 18.16
/// has no DateTime64), so a bound instant is just its microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickHouseDialect;

impl Dialect for ClickHouseDialect {
    const TIME_PLACEHOLDER: &'static str = "?";
}

/// SQL in ClickHouse's dialect (valid on 18.16 and current releases).
pub type Sql = tally_query::sql::Sql<ClickHouseDialect>;

/// A client bound to one database.
#[derive(Clone)]
pub(crate) struct Db {
    client: Client,
    /// The same server without a database, for creating it.
    server: Client,
}

impl Db {
    pub(crate) fn new(config: &ClickHouseConfig) -> Self {
        let mut server = Client::default()
            .with_url(&config.http_url)
            .with_validation(false)
            .with_option("user", &config.user);
        if let Some(password) = &config.password {
            server = server.with_option("password", password);
        }
        let client = server.clone().with_option("database", &config.database);
        Self { client, server }
    }

    /// A client of its own HTTP session (`session_id`): temporary tables live
    /// as long as it does. One statement at a time per session.
    pub(crate) fn in_session(&self, session_id: &str) -> Self {
        Self {
            client: self.client.clone().with_option("session_id", session_id),
            server: self.server.clone(),
        }
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    fn bound(client: &Client, sql: &Sql) -> clickhouse::query::Query {
        let mut q = client.query(&sql.text);
        for p in &sql.params {
            q = match p {
                SqlParam::Int(i) => q.bind(*i),
                SqlParam::Float(f) => q.bind(*f),
                SqlParam::Text(s) => q.bind(s.as_str()),
                SqlParam::Time(t) => q.bind(t.timestamp_micros()),
            };
        }
        q
    }

    /// Runs a statement that returns no rows.
    pub(crate) async fn execute(&self, sql: &Sql) -> Result<(), StoreError> {
        Self::bound(&self.client, sql)
            .execute()
            .await
            .map_err(error)
    }

    /// Runs a statement against the server, outside the database (DDL of the
    /// database itself).
    pub(crate) async fn execute_on_server(&self, sql: &Sql) -> Result<(), StoreError> {
        Self::bound(&self.server, sql)
            .execute()
            .await
            .map_err(error)
    }

    /// Runs a query and reads every row.
    pub(crate) async fn fetch_all<T>(&self, sql: &Sql) -> Result<Vec<T>, StoreError>
    where
        T: RowOwned + RowRead,
    {
        Self::bound(&self.client, sql)
            .fetch_all::<T>()
            .await
            .map_err(error)
    }
}

/// Text that is one statement without bound values.
pub(crate) fn plain(text: &str) -> Sql {
    let mut s = Sql::default();
    s.push(text);
    s
}

/// Connection trouble is `Unavailable` (worth retrying); anything else is a
/// bug or a broken server, `Internal`.
pub(crate) fn error(e: clickhouse::error::Error) -> StoreError {
    use clickhouse::error::Error;
    match e {
        Error::Network(_) | Error::TimedOut => StoreError::Unavailable(format!("ClickHouse: {e}")),
        other => StoreError::Internal(format!("ClickHouse: {other}")),
    }
}
