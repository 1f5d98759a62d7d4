//! [`ListPage`]: every list answer, `{"data": [...], "next_cursor": "..." | null}`.

use serde::{Deserialize, Serialize};

/// One page of a list; `next_cursor` is where the next page starts, `null` on the last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListPage<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> ListPage<T> {
    /// The page with each item turned into another.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> ListPage<U> {
        ListPage {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}
