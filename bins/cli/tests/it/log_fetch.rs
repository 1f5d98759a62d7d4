//! The online conveniences around `audit verify` — `log checkpoint`, `log key`, `log fetch`,
//! `audit proof` and `audit verify consistency --online` — against a stand-in for the server's
//! transparency-log routes: a loopback HTTP responder answering the contract's paths from a log
//! built with the tlog crate (the server side of the log is not on this branch; the end-to-end
//! test against the real server comes with it). What is checked is the client: the paths it
//! asks for, what it writes where, that a public log needs no API key, and that what it fetched
//! verifies offline — and that a fetched checkpoint is never trusted without the key.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use countersign_tlog::proof::encode_proof;
use countersign_tlog::{LogSigner, TlogProof};
use serde_json::json;

use crate::support::{cs_command, Run};
use crate::verify::{s, Fixture, ORIGIN};

/// What the stand-in serves: the log of `fixture` at `size` leaves, its checkpoint signed by
/// `signer`.
struct LogRoutes {
    tiles: std::path::PathBuf,
    checkpoint: String,
    key: String,
    proofs: Vec<(String, String)>,
    log: countersign_tlog::MemoryLog,
}

/// A loopback responder; records each request's path and whether it carried a key.
struct StandIn {
    url: String,
    seen: Arc<Mutex<Vec<(String, bool)>>>,
}

impl StandIn {
    fn start(routes: LogRoutes) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                answer(stream, &routes, &log);
            }
        });
        Self { url, seen }
    }

    fn paths(&self) -> Vec<(String, bool)> {
        self.seen.lock().unwrap().clone()
    }
}

fn answer(mut stream: TcpStream, routes: &LogRoutes, seen: &Mutex<Vec<(String, bool)>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut keyed = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        keyed |= header.to_ascii_lowercase().starts_with("authorization:");
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    seen.lock().unwrap().push((path.clone(), keyed));
    let body: Option<Vec<u8>> = if path == "/api/v1/log/checkpoint" {
        Some(routes.checkpoint.clone().into_bytes())
    } else if path == "/api/v1/log/key" {
        Some(routes.key.clone().into_bytes())
    } else if let Some(tile) = path.strip_prefix("/api/v1/log/tile/") {
        std::fs::read(routes.tiles.join("tile").join(tile)).ok()
    } else if let Some(query) = path.strip_prefix("/api/v1/log/consistency?") {
        let number = |name: &str| -> u64 {
            query
                .split('&')
                .find_map(|p| p.strip_prefix(&format!("{name}=")))
                .unwrap()
                .parse()
                .unwrap()
        };
        let (old, new) = (number("old"), number("new"));
        let proof = routes.log.consistency_proof(old, new).unwrap();
        Some(
            json!({"old": old, "new": new, "proof": encode_proof(&proof)})
                .to_string()
                .into_bytes(),
        )
    } else {
        routes
            .proofs
            .iter()
            .find(|(id, _)| path == format!("/api/v1/audit/{id}/proof"))
            .map(|(_, text)| text.clone().into_bytes())
    };
    let (status, body) = match body {
        Some(b) => ("200 OK", b),
        None => (
            "404 Not Found",
            br#"{"error":{"code":"not_found","message":"no such route","request_id":"req_x"}}"#
                .to_vec(),
        ),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(&body);
}

fn routes(f: &Fixture, size: u64) -> LogRoutes {
    let index = 200u64;
    let id = f.events[index as usize]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let proof = TlogProof {
        extra: None,
        index,
        inclusion_proof: f.log.inclusion_proof(index, size).unwrap(),
        checkpoint: f.checkpoint(size),
    };
    LogRoutes {
        tiles: f.tiles.clone(),
        checkpoint: f.checkpoint(size),
        key: f.signer.verifier_key(),
        proofs: vec![(id, proof.to_text())],
        log: f.log.clone(),
    }
}

fn cs(url: &str, api_key: Option<&str>, home: &Path, args: &[&str]) -> Run {
    let mut c = cs_command(home);
    c.env("COUNTERSIGN_URL", url)
        .env_remove("COUNTERSIGN_LOG_KEY");
    if let Some(k) = api_key {
        c.env("COUNTERSIGN_API_KEY", k);
    }
    Run::from(c.args(args).output().unwrap())
}

#[test]
fn fetched_tiles_verify_a_partial_export_and_are_fetched_once() {
    let f = Fixture::new("log-fetch", 600);
    let server = StandIn::start(routes(&f, 600));
    let home = f.dir.path();
    let out = f.dir.join("fetched");

    // A public log: no API key is needed (and none is sent).
    let run = cs(&server.url, None, home, &["log", "fetch", "--out", s(&out)]);
    run.ok();
    assert!(
        run.stderr.contains("at tree size 600") && run.stderr.contains("fetched"),
        "{run:#?}"
    );
    let asked = server.paths();
    assert!(asked.iter().all(|(_, keyed)| !keyed), "{asked:?}");
    for want in [
        "/api/v1/log/checkpoint",
        "/api/v1/log/key",
        "/api/v1/log/tile/0/000",
        "/api/v1/log/tile/0/001",
        "/api/v1/log/tile/0/002.p/88",
        "/api/v1/log/tile/1/000.p/2",
    ] {
        assert!(asked.iter().any(|(p, _)| p == want), "{want} in {asked:?}");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("checkpoint")).unwrap(),
        f.checkpoint(600)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("key")).unwrap().trim_end(),
        f.signer.verifier_key()
    );

    // The fetched directory verifies a range in the middle.
    let part = f.write_lines("part.ndjson", &f.lines(250..530));
    let run = f.verify_export(&part, &["--tiles", s(&out)]);
    assert!(run.ok().contains("exactly leaves 250..=529"), "{run:#?}");

    // Fetched again: the full tiles are kept, only the partial ones asked for.
    let before = server.paths().len();
    cs(&server.url, None, home, &["log", "fetch", "--out", s(&out)]).ok();
    let again: Vec<String> = server.paths()[before..]
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    assert!(
        !again.iter().any(|p| p == "/api/v1/log/tile/0/000"),
        "{again:?}"
    );
    assert!(
        again.iter().any(|p| p == "/api/v1/log/tile/0/002.p/88"),
        "{again:?}"
    );

    // An API key, when configured, is sent.
    let before = server.paths().len();
    let run = cs(
        &server.url,
        Some("cs_key_x_y"),
        home,
        &["log", "checkpoint"],
    );
    assert_eq!(run.ok(), f.checkpoint(600));
    assert!(server.paths()[before..].iter().all(|(_, keyed)| *keyed));
    let run = cs(&server.url, None, home, &["log", "key"]);
    assert_eq!(run.ok(), format!("{}\n", f.signer.verifier_key()));
}

#[test]
fn online_consistency_and_a_fetched_proof_verify_with_the_key_alone() {
    let f = Fixture::new("log-online", 600);
    let server = StandIn::start(routes(&f, 600));
    let home = f.dir.path();
    let key = s(&f.key);

    // The log today (600) extends the checkpoint saved at 300; the new one is saved.
    let old = f.write("old", &f.checkpoint(300));
    let saved = f.dir.join("saved");
    // The consistency route is not public: an API key is needed (the checkpoint alone is).
    let run = cs(
        &server.url,
        None,
        home,
        &[
            "audit",
            "verify",
            "consistency",
            "--old",
            s(&old),
            "--online",
            "--log-key",
            key,
        ],
    );
    assert!(run.fails(2).contains("no API key"), "{run:#?}");
    let run = cs(
        &server.url,
        Some("cs_key_x_y"),
        home,
        &[
            "audit",
            "verify",
            "consistency",
            "--old",
            s(&old),
            "--online",
            "--save",
            s(&saved),
            "--log-key",
            key,
        ],
    );
    assert!(
        run.ok().contains("at tree size 600 (root")
            && run.stdout.contains("extends the checkpoint of size 300"),
        "{run:#?}"
    );
    assert!(server
        .paths()
        .iter()
        .any(|(p, _)| p == "/api/v1/log/consistency?old=300&new=600"));
    assert_eq!(std::fs::read_to_string(&saved).unwrap(), f.checkpoint(600));

    // A checkpoint the auditor saved from a fork is not extended by the log.
    let forked_root = {
        let mut fork = countersign_tlog::MemoryLog::new();
        for i in 0..300 {
            fork.append(format!("other {i}").as_bytes());
        }
        fork.root()
    };
    let forked = f.write(
        "forked",
        &f.signer
            .sign_checkpoint(&countersign_tlog::Checkpoint::new(ORIGIN, 300, forked_root))
            .unwrap(),
    );
    let run = cs(
        &server.url,
        Some("cs_key_x_y"),
        home,
        &[
            "audit",
            "verify",
            "consistency",
            "--old",
            s(&forked),
            "--online",
            "--log-key",
            key,
        ],
    );
    assert!(run.fails(1).contains("does not extend"), "{run:#?}");

    // A server whose checkpoint is signed by another key is not believed.
    let (impostor, _) = LogSigner::generate(ORIGIN).unwrap();
    let mut other = routes(&f, 600);
    other.checkpoint = impostor
        .sign_checkpoint(&countersign_tlog::Checkpoint::new(
            ORIGIN,
            600,
            f.log.root(),
        ))
        .unwrap();
    let other = StandIn::start(other);
    let run = cs(
        &other.url,
        Some("cs_key_x_y"),
        home,
        &[
            "audit",
            "verify",
            "consistency",
            "--old",
            s(&old),
            "--online",
            "--log-key",
            key,
        ],
    );
    assert!(run.fails(1).contains("the server's checkpoint"), "{run:#?}");

    // `audit proof` saves the tlog-proof (it needs an API key), which verifies offline.
    let id = f.events[200]["event_id"].as_str().unwrap();
    let proof = f.dir.join("evt.proof");
    let run = cs(
        &server.url,
        None,
        home,
        &["audit", "proof", id, "--out", s(&proof)],
    );
    assert!(run.fails(2).contains("no API key"), "{run:#?}");
    cs(
        &server.url,
        Some("cs_key_x_y"),
        home,
        &["audit", "proof", id, "--out", s(&proof)],
    )
    .ok();
    let event = f.write("evt.json", &f.events[200].to_string());
    let run = cs(
        &server.url,
        None,
        home,
        &[
            "audit",
            "verify",
            "event",
            "--proof",
            s(&proof),
            "--event",
            s(&event),
            "--log-key",
            key,
        ],
    );
    assert!(run.ok().contains("is leaf 200 of"), "{run:#?}");
    // An unknown event is the server's 404, exit 1.
    let run = cs(
        &server.url,
        Some("cs_key_x_y"),
        home,
        &["audit", "proof", "evt_unknown"],
    );
    assert!(run.fails(1).contains("not_found (404)"), "{run:#?}");
}
