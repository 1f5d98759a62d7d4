//! One blocking HTTP/1.1 exchange over a fresh connection (`Connection: close`): enough to
//! poll a process's `/readyz` or read its `/metrics` without a client or a runtime.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long one exchange may take.
pub const EXCHANGE: Duration = Duration::from_secs(60);

/// A status and a raw body; status 0 when nothing (or no HTTP) came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// `method path` on `127.0.0.1:port`, with a bearer `key` and a JSON `body` when given.
pub fn exchange(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let nothing = |body: String| Reply { status: 0, body };
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return nothing(String::new());
    };
    stream.set_read_timeout(Some(EXCHANGE)).unwrap();
    let body = body.unwrap_or_default();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return nothing(String::new());
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let Some((head, body)) = raw.split_once("\r\n\r\n") else {
        return nothing(raw);
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        body: body.to_owned(),
    }
}

/// `GET path` without credentials.
pub fn get(port: u16, path: &str) -> Reply {
    exchange(port, "GET", path, None, None)
}
