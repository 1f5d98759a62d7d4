//! Samples in the Prometheus text exposition format (what `/metrics` serves).

/// One sample line: `name{label="value",…} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    /// The text between the braces (empty without labels).
    pub labels: &'a str,
    pub value: f64,
}

impl Sample<'_> {
    /// Whether this sample carries `label="value"`.
    pub fn has_label(&self, label: &str, value: &str) -> bool {
        self.labels
            .split(',')
            .any(|pair| pair.trim() == format!("{label}=\"{value}\""))
    }
}

/// Every sample line of `text` (comments and blank lines skipped; unparsable values too).
pub fn samples(text: &str) -> impl Iterator<Item = Sample<'_>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}').unwrap_or(rest)),
                None => (series, ""),
            };
            Some(Sample {
                name,
                labels,
                value,
            })
        })
}

/// The sum of the samples named `name` that carry every one of `labels` (others may be
/// there too); `None` when no sample matches.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text)
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.has_label(k, v)))
        .map(|s| s.value)
        .reduce(|a, b| a + b)
}

/// Every metric family (`# TYPE` line) has a `# HELP` line, and there is at least one.
#[track_caller]
pub fn assert_every_family_has_help(text: &str) {
    let names = |prefix: &'static str| {
        text.lines()
            .filter_map(move |l| l.strip_prefix(prefix))
            .filter_map(|l| l.split_whitespace().next())
    };
    let helped: Vec<&str> = names("# HELP ").collect();
    let mut families = 0;
    for name in names("# TYPE ") {
        families += 1;
        assert!(helped.contains(&name), "no HELP for `{name}` in:\n{text}");
    }
    assert!(families > 0, "no metric families in:\n{text}");
}

/// `promtool check metrics` on `text`, with no complaint; skipped (with a note) when
/// promtool is not installed (Debian: `apt-get install prometheus`).
#[track_caller]
pub fn promtool_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("note: promtool not found ({e}); skipping `promtool check metrics`");
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && complaints.trim().is_empty(),
        "promtool check metrics: {}\n{complaints}\n--- metrics ---\n{text}",
        out.status
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP c_total Things.\n# TYPE c_total counter\n\
        c_total{outcome=\"approved\",policy=\"p1\"} 2\n\
        c_total{outcome=\"approved\",policy=\"p10\"} 5\n\
        c_total{outcome=\"rejected\",policy=\"p1\"} 1\n\
        plain 7\n";

    #[test]
    fn value_sums_the_samples_carrying_every_label() {
        assert_eq!(value(TEXT, "c_total", &[("policy", "p1")]), Some(3.0));
        assert_eq!(
            value(
                TEXT,
                "c_total",
                &[("outcome", "approved"), ("policy", "p1")]
            ),
            Some(2.0)
        );
        assert_eq!(value(TEXT, "c_total", &[]), Some(8.0));
        assert_eq!(value(TEXT, "plain", &[]), Some(7.0));
        assert_eq!(value(TEXT, "c_total", &[("policy", "p2")]), None);
        assert_eq!(value(TEXT, "c", &[]), None);
    }

    #[test]
    fn help_is_required_for_every_family() {
        assert_every_family_has_help(TEXT);
        let missing = std::panic::catch_unwind(|| {
            assert_every_family_has_help("# TYPE x counter\nx 1\n");
        });
        assert!(missing.is_err());
    }
}
