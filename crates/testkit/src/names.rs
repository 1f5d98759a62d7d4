//! Names that no other test, in this process or another, uses at the same time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// `tag_<pid>_<nanos>_<seq>`: safe as a database, file or principal name once `_` is
/// acceptable there (replace it where it is not).
pub fn unique(tag: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{tag}_{}_{nanos}_{seq}", std::process::id())
}
