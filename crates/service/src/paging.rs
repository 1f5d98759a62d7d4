//! Turning the contract's `limit` and `cursor` query values into a [`PageRequest`].

use countersign_store::page::{DEFAULT_LIMIT, MAX_LIMIT};
use countersign_store::{Cursor, Page, PageRequest};

use crate::error::{ServiceError, ServiceResult};

/// `limit` (1..=500, default 50) and an opaque `cursor`, as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl ListParams {
    /// Validate into a page request; out-of-range limits and bad cursors are 400.
    pub fn to_page(&self) -> ServiceResult<PageRequest> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ServiceError::invalid(format!(
                "limit: must be between 1 and {MAX_LIMIT}"
            )));
        }
        let after = match self.cursor.as_deref() {
            None => None,
            Some(c) => Some(
                Cursor::decode(c).map_err(|_| ServiceError::invalid("cursor: invalid cursor"))?,
            ),
        };
        Ok(PageRequest { limit, after })
    }
}

/// A list answer: `{"data": [...], "next_cursor": "..." | null}`.
pub type Listing<T> = countersign_api::ListPage<T>;

/// A store page as a list answer.
pub fn listing<T>(p: Page<T>) -> Listing<T> {
    Listing {
        data: p.items,
        next_cursor: p.next.map(|c| c.encode()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors() {
        assert_eq!(ListParams::default().to_page().unwrap().limit, 50);
        for bad in [0, 501] {
            let p = ListParams {
                limit: Some(bad),
                cursor: None,
            };
            assert!(matches!(p.to_page(), Err(ServiceError::Invalid(_))));
        }
        let p = ListParams {
            limit: None,
            cursor: Some("zz".into()),
        };
        assert!(matches!(p.to_page(), Err(ServiceError::Invalid(_))));
    }
}
