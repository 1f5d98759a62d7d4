//! Translating sqlx errors into [`StoreError`], at the lowest layer.
//!
//! | PostgreSQL                                         | [`StoreError`]                 |
//! |----------------------------------------------------|--------------------------------|
//! | `23505` unique_violation                           | `Conflict { constraint }`      |
//! | `23503` foreign_key_violation                      | `ForeignKey { constraint }`    |
//! | `23514` check_violation (CHECKs and our triggers)  | `Check { constraint, message }`|
//! | `P0001` / `42501` raised by a trigger naming a constraint | `Check { constraint, message }` |
//! | class `08` (connection), `57P0x` (shutdown), `53300` | `Unavailable`                |
//! | pool timeout, pool closed, I/O, TLS, worker crash  | `Unavailable`                  |
//! | anything else                                      | `Other`                        |
//!
//! The triggers in the schema raise with `USING CONSTRAINT = '…'`, so their refusals carry a
//! stable name just like declared constraints do.

use countersign_sql::DriverResults;
use countersign_store::StoreError;
use sqlx::error::DatabaseError;
use sqlx::postgres::PgQueryResult;

use crate::PgDialect;

impl DriverResults for PgDialect {
    type QueryResult = PgQueryResult;

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn map_database(db: Box<dyn DatabaseError>) -> StoreError {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        let constraint = db.constraint().map(str::to_owned);
        let named = |c: Option<String>| c.unwrap_or_else(|| "unknown".to_owned());
        match code.as_str() {
            "23505" => StoreError::Conflict {
                constraint: named(constraint),
            },
            "23503" => StoreError::ForeignKey {
                constraint: named(constraint),
            },
            "23514" => StoreError::Check {
                constraint: named(constraint),
                message: db.message().to_owned(),
            },
            "P0001" | "42501" if constraint.is_some() => StoreError::Check {
                constraint: named(constraint),
                message: db.message().to_owned(),
            },
            "53300" | "57P01" | "57P02" | "57P03" => {
                StoreError::Unavailable(db.message().to_owned())
            }
            c if c.starts_with("08") => StoreError::Unavailable(db.message().to_owned()),
            _ => StoreError::other(sqlx::Error::Database(db)),
        }
    }
}
