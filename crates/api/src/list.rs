//! [`ListPage`]: every list answer, `{"data": [...], "next_cursor": "..." | null}`.

use serde::{Deserialize, Serialize};

/// One page of a list; `next_cursor` is where the next page starts, `null` on the last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_data_and_next_cursor() {
        let page = ListPage {
            data: vec![1, 2],
            next_cursor: None,
        };
        let text = serde_json::to_string(&page.map(|n| n * 10)).unwrap();
        assert_eq!(text, r#"{"data":[10,20],"next_cursor":null}"#);
        let back: ListPage<u8> = serde_json::from_str(r#"{"data":[],"next_cursor":"c1"}"#).unwrap();
        assert_eq!(back.next_cursor.as_deref(), Some("c1"));
    }
}
