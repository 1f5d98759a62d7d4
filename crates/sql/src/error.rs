//! [`DriverResults`] (rows affected, database errors), and the driver errors every SQL backend
//! maps alike: a pool that timed out or closed, a broken
//! connection or TLS session, a crashed worker — all `StoreError::Unavailable`. Errors the
//! database itself reports are the dialect's to name (constraint names, connection classes).

use countersign_store::StoreError;
use sqlx::error::DatabaseError;

/// Reading what a backend's driver answered: the rows a statement changed, and the errors its
/// database reports as store errors (transport failures are mapped alike for every backend by
/// [`map_sqlx`]).
pub trait DriverResults {
    /// The driver's result of an executed statement.
    type QueryResult;

    /// Rows an executed statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// The store's error for an error the database reported (constraint names, connection
    /// classes).
    fn map_database(e: Box<dyn DatabaseError>) -> StoreError;

    /// The store's error for any driver error.
    fn map_error(e: sqlx::Error) -> StoreError {
        map_sqlx(e, Self::map_database)
    }

    /// The store's error for a failed COMMIT (deferred constraints are checked there).
    fn map_commit_error(e: sqlx::Error) -> StoreError {
        Self::map_error(e)
    }
}

/// Map a sqlx error: database errors through `database`, transport failures to
/// `Unavailable`, anything else to `Other`.
pub fn map_sqlx(
    e: sqlx::Error,
    database: impl FnOnce(Box<dyn DatabaseError>) -> StoreError,
) -> StoreError {
    match e {
        sqlx::Error::Database(db) => database(db),
        sqlx::Error::PoolTimedOut => {
            StoreError::Unavailable("timed out waiting for a database connection".into())
        }
        sqlx::Error::PoolClosed => StoreError::Unavailable("the connection pool is closed".into()),
        sqlx::Error::Io(e) => StoreError::Unavailable(format!("database i/o: {e}")),
        sqlx::Error::Tls(e) => StoreError::Unavailable(format!("database tls: {e}")),
        sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable("the database connection worker crashed".into())
        }
        other => StoreError::other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(e: sqlx::Error) -> StoreError {
        map_sqlx(e, |db| StoreError::other(sqlx::Error::Database(db)))
    }

    #[test]
    fn transport_errors_are_unavailable() {
        assert!(matches!(
            map(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            map(sqlx::Error::PoolClosed),
            StoreError::Unavailable(_)
        ));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(
            map(sqlx::Error::Io(io)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            map(sqlx::Error::WorkerCrashed),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            map(sqlx::Error::RowNotFound),
            StoreError::Other(_)
        ));
    }
}
