//! What commands print: aligned tables and `name  value` blocks for people, the server's JSON
//! as is for `--json`, and the small formatters they share (human times, short ids).

use std::io::Write;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A table: a header row and aligned columns separated by two spaces.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, trailing spaces trimmed.
    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate().take(cols) {
                line.push_str(cell);
                if i + 1 < cols {
                    let pad = widths[i] - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `name  value` lines with the names aligned.
#[derive(Debug, Default)]
pub struct Fields(Vec<(&'static str, String)>);

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.0.push((name, value.into()));
        self
    }

    pub fn render(&self) -> String {
        let width = self
            .0
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (name, value) in &self.0 {
            let line = format!("{name:<width$}  {value}");
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Print to stdout; a closed pipe (`| head`) ends quietly.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Print JSON bytes as the server sent them, ending with a newline.
pub fn print_raw_json(body: &[u8]) {
    let mut text = String::from_utf8_lossy(body).into_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    print(&text);
}

/// A string field, `-` when missing or null; numbers and booleans as text.
pub fn field(v: &Value, name: &str) -> String {
    text(&v[name])
}

/// A value as a cell: strings bare, null `-`, anything else as compact JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `sub_…K4X2QZ`: the prefix and the last six characters, enough to tell rows apart (the
/// full id is in `show` and `--json`). Anything that is not a prefixed id stays whole.
pub fn short_id(id: &str) -> String {
    match id.split_once('_') {
        Some((prefix, rest)) if rest.len() > 10 && rest.is_ascii() => {
            format!("{prefix}_…{}", &rest[rest.len() - 6..])
        }
        _ => id.to_owned(),
    }
}

/// `2026-05-20 14:03:11` (UTC); the input as is when it is not RFC 3339.
pub fn human_time(ts: &str) -> String {
    match OffsetDateTime::parse(ts, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        Err(_) => ts.to_owned(),
    }
}

/// A time as `2026-05-27 10:00:00 UTC (in 6d 22h)`.
pub fn at(t: OffsetDateTime, now: OffsetDateTime) -> String {
    format!(
        "{} UTC ({})",
        human_time(&crate::timearg::format(t)),
        relative(t, now)
    )
}

/// Rules as `approver×2, security×1`, `-` for none.
pub fn rule_list(rules: &[countersign_api::domain::ApprovalRule]) -> String {
    if rules.is_empty() {
        "-".to_owned()
    } else {
        rules
            .iter()
            .map(|r| format!("{}×{}", r.role, r.count))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `just now`, `42s ago`, `3m ago`, `5h 2m ago`, `2d 4h ago`, or `in …` for the future.
pub fn relative(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (now - t).whole_seconds();
    let (future, s) = (secs < 0, secs.unsigned_abs());
    if s < 5 {
        return "just now".to_owned();
    }
    let span = match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// Pretty JSON indented under a heading.
pub fn indented_json(v: &Value) -> String {
    let pretty = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    pretty.lines().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn tables_align_on_the_widest_cell_and_trim() {
        let mut t = Table::new(&["ID", "STATE", "NOTE"]);
        t.row(vec!["apr_1".into(), "pending".into(), "".into()]);
        t.row(vec!["apr_22222".into(), "ok".into(), "ünïcode".into()]);
        assert_eq!(
            t.render(),
            "ID         STATE    NOTE\napr_1      pending\napr_22222  ok       ünïcode\n"
        );
    }

    #[test]
    fn fields_align() {
        let mut f = Fields::new();
        f.add("id", "apr_1").add("state", "pending");
        assert_eq!(f.render(), "id     apr_1\nstate  pending\n");
    }

    #[test]
    fn times_ids_and_rules_read_well() {
        assert_eq!(
            human_time("2026-05-20T14:03:11.123456Z"),
            "2026-05-20 14:03:11"
        );
        assert_eq!(
            human_time("2026-05-20T16:03:11+02:00"),
            "2026-05-20 14:03:11"
        );
        assert_eq!(human_time("soon"), "soon");
        let now = datetime!(2026-05-20 14:00:00 UTC);
        assert_eq!(relative(datetime!(2026-05-20 13:57:00 UTC), now), "3m ago");
        assert_eq!(
            relative(datetime!(2026-05-27 13:00:00 UTC), now),
            "in 6d 23h"
        );
        assert_eq!(
            relative(datetime!(2026-05-20 13:59:58 UTC), now),
            "just now"
        );
        assert_eq!(
            relative(datetime!(2026-05-20 11:58:00 UTC), now),
            "2h 2m ago"
        );
        assert_eq!(
            at(datetime!(2026-05-20 13:59:00 UTC), now),
            "2026-05-20 13:59:00 UTC (1m ago)"
        );
        assert_eq!(short_id("sub_01JTZ8K4QF3N7Y2C5R9WX4K4X2QZ"), "sub_…K4X2QZ");
        assert_eq!(short_id("system:reaper"), "system:reaper");
        let rules: Vec<countersign_api::domain::ApprovalRule> = serde_json::from_value(
            json!([{"role": "approver", "count": 1}, {"role": "sec", "count": 2}]),
        )
        .unwrap();
        assert_eq!(rule_list(&rules), "approver×1, sec×2");
        assert_eq!(rule_list(&[]), "-");
        assert_eq!(field(&json!({"a": 3, "b": null}), "a"), "3");
        assert_eq!(field(&json!({"a": 3, "b": null}), "b"), "-");
    }
}
