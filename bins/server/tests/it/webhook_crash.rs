//! A scheduler killed with SIGKILL in the middle of a webhook delivery loses nothing: once its
//! claim's lease runs out, another scheduler sends the same message again (the same
//! `webhook-id`), and the delivery ends `delivered` after two attempts. Real processes on
//! PostgreSQL, a raw HTTP receiver on loopback that never answers the first request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{
    admin_key, free_port, http, scheduler_binary, server_binary, spawn, PgDatabase, Proc, TempDir,
};

/// Read one request; answer its `webhook-id` header (the body is read and dropped).
fn read_request(stream: &mut TcpStream) -> String {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (mut id, mut length) = (String::new(), 0usize);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            match k.to_ascii_lowercase().as_str() {
                "webhook-id" => id = v.trim().to_owned(),
                "content-length" => length = v.trim().parse().unwrap(),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    id
}

/// A receiver that reports each request's `webhook-id`, holds the first connection open
/// without answering, and answers 200 to the rest.
fn receiver() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let id = read_request(&mut stream);
            let first = held.is_empty();
            let _ = tx.send(id);
            if first {
                held.push(stream);
            } else {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        }
    });
    (port, rx)
}

fn start_scheduler(url: &str, scratch: &std::path::Path) -> Proc {
    let port = free_port();
    let mut p = spawn(
        "countersign-scheduler",
        scheduler_binary(),
        &[],
        &[
            ("COUNTERSIGN_DATABASE_URL", url.to_owned()),
            ("COUNTERSIGN_SCHEDULER_LISTEN", format!("127.0.0.1:{port}")),
            ("COUNTERSIGN_SCHEDULER_TICK", "200ms".to_owned()),
            ("COUNTERSIGN_WEBHOOK_TIMEOUT", "5s".to_owned()),
            ("COUNTERSIGN_WEBHOOK_LEASE", "6s".to_owned()),
        ],
        scratch,
    );
    p.wait_for_status(port, "/healthz", 200);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_killed_mid_delivery_loses_nothing() {
    let db = PgDatabase::create().await;
    let scratch = TempDir::new("webhook-crash");
    let admin = admin_key(&db.url, scratch.path());
    let port = free_port();
    let mut server = spawn(
        "countersign-server",
        server_binary(),
        &["serve"],
        &[
            ("COUNTERSIGN_DATABASE_URL", db.url.clone()),
            ("COUNTERSIGN_LISTEN", format!("127.0.0.1:{port}")),
        ],
        scratch.path(),
    );
    server.wait_for_status(port, "/readyz", 200);

    let (hook_port, requests) = receiver();
    let (status, text) = http(
        port,
        "POST",
        "/api/v1/webhooks",
        Some(&admin),
        Some(&json!({"url": format!("http://127.0.0.1:{hook_port}/hook")})),
    );
    assert_eq!(status, 201, "{text}");
    let webhook = serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/webhooks/{webhook}/test");
    let (status, text) = http(port, "POST", &path, Some(&admin), Some(&json!({})));
    assert_eq!(status, 202, "{text}");
    let message = serde_json::from_str::<Value>(&text).unwrap()["message_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The first scheduler claims and sends; the receiver holds the request; SIGKILL.
    let mut first = start_scheduler(&db.url, scratch.path());
    let got = requests.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(got, message);
    let status = first.signal("KILL");
    assert!(!status.success());

    // Another scheduler sends the same message once the dead one's lease runs out.
    let started = Instant::now();
    let mut second = start_scheduler(&db.url, scratch.path());
    let again = requests.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(again, message, "the same webhook-id");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "not before the lease ran out"
    );

    let list = format!("/api/v1/webhooks/{webhook}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, text) = http(port, "GET", &list, Some(&admin), None);
        let d = serde_json::from_str::<Value>(&text).unwrap()["data"][0].clone();
        if d["status"] == "delivered" {
            assert_eq!(d["attempts"], 2, "{d}");
            assert_eq!(d["message_id"], message.as_str());
            break;
        }
        assert!(Instant::now() < deadline, "not recorded delivered: {d}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(requests.try_recv().is_err(), "sent a third time");
    assert!(second.terminate().success());
    assert!(server.terminate().success());
}
