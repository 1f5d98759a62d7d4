//! A one-line progress display on stderr (events, bytes, rate), redrawn at most ten times a
//! second and only when stderr is a terminal; plus the byte and rate formatting it uses.

use std::io::Write;
use std::time::{Duration, Instant};

/// Redraws no more often than this.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Counts and, when enabled, shows progress.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    started: Instant,
    last_draw: Option<Instant>,
    pub events: u64,
    pub bytes: u64,
}

impl Progress {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            started: Instant::now(),
            last_draw: None,
            events: 0,
            bytes: 0,
        }
    }

    /// Count a chunk of NDJSON (its newlines are its complete events).
    pub fn add(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        self.events += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        if self.enabled && self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW_EVERY) {
            self.draw();
        }
    }

    fn draw(&mut self) {
        self.last_draw = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", self.line());
        let _ = err.flush();
    }

    /// `12345 events, 4.2 MiB, 1234 events/s`.
    pub fn line(&self) -> String {
        format!(
            "{} events, {}, {}",
            self.events,
            bytes(self.bytes),
            rate(self.events, self.started.elapsed())
        )
    }

    /// Draw the last state and end the line.
    pub fn finish(&mut self) {
        if self.enabled {
            self.draw();
            eprintln!();
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// `512 B`, `4.2 KiB`, `1.0 MiB`, `3.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `1234 events/s`; `-` before any time has passed.
pub fn rate(events: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 0.001 {
        return "- events/s".to_owned();
    }
    format!("{:.0} events/s", events as f64 / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_bytes() {
        let mut p = Progress::new(false);
        p.add(b"{\"a\":1}\n{\"b\"");
        p.add(b":2}\n");
        assert_eq!((p.events, p.bytes), (2, 16));
        assert!(p.line().starts_with("2 events, 16 B, "));
    }

    #[test]
    fn formats() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(4300), "4.2 KiB");
        assert_eq!(bytes(1 << 20), "1.0 MiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(rate(500, Duration::from_secs(2)), "250 events/s");
        assert_eq!(rate(5, Duration::ZERO), "- events/s");
    }
}
