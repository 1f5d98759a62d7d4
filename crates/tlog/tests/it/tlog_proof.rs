//! C2SP `tlog-proof`: the specification's example parses; a proof built from a log and its
//! signed checkpoint round-trips and verifies offline with only the verifier key; every
//! corrupted proof, and a proof for another leaf, is refused.

use countersign_tlog::tlog_proof::HEADER;
use countersign_tlog::{Checkpoint, LogSigner, MemoryLog, TlogProof};

const SPEC_EXAMPLE: &str = "c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

— example.com/fancylog hI2DJw[...]1roloI=
";

#[test]
fn the_specification_example_parses_and_prints_back() {
    let proof = TlogProof::parse(SPEC_EXAMPLE.as_bytes()).unwrap();
    assert_eq!(proof.index, 73_894);
    assert_eq!(proof.inclusion_proof.len(), 5);
    assert!(proof
        .extra
        .as_deref()
        .unwrap()
        .starts_with(b"age-v1.2.1-darwin-arm64.tar.gz"));
    assert!(proof
        .checkpoint
        .starts_with("example.com/fancylog\n109482\n"));
    assert_eq!(proof.to_text(), SPEC_EXAMPLE);
}

struct Fixture {
    signer: LogSigner,
    leaves: Vec<Vec<u8>>,
    log: MemoryLog,
}

fn fixture() -> Fixture {
    let (signer, _) = LogSigner::generate("countersign.example/log").unwrap();
    let leaves: Vec<Vec<u8>> = (0..37)
        .map(|i| format!("{{\"event_id\":\"evt_{i}\"}}").into_bytes())
        .collect();
    let log = MemoryLog::from_leaves(&leaves);
    Fixture {
        signer,
        leaves,
        log,
    }
}

fn proof_for(f: &Fixture, index: u64, size: u64) -> TlogProof {
    let checkpoint = Checkpoint::new(f.signer.name(), size, f.log.root_at(size).unwrap());
    TlogProof {
        extra: None,
        index,
        inclusion_proof: f.log.inclusion_proof(index, size).unwrap(),
        checkpoint: f.signer.sign_checkpoint(&checkpoint).unwrap(),
    }
}

#[test]
fn a_proof_round_trips_and_verifies_offline() {
    let f = fixture();
    let verifier = f.signer.verifier();
    for index in [0u64, 1, 17, 36] {
        let proof = proof_for(&f, index, 37);
        let text = proof.to_text();
        assert!(text.starts_with(&format!("{HEADER}\nindex {index}\n")));
        let parsed = TlogProof::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed, proof);
        let checkpoint = parsed.verify(&verifier, &f.leaves[index as usize]).unwrap();
        assert_eq!(checkpoint.size, 37);
        // Another leaf, or this leaf at another index, is refused.
        let other = (index as usize + 1) % f.leaves.len();
        assert!(parsed.verify(&verifier, &f.leaves[other]).is_err());
        let mut moved = parsed.clone();
        moved.index = other as u64;
        assert!(moved.verify(&verifier, &f.leaves[index as usize]).is_err());
    }
    // Extra data rides along and is not part of what is verified.
    let mut with_extra = proof_for(&f, 3, 20);
    with_extra.extra = Some(b"context".to_vec());
    let parsed = TlogProof::parse(with_extra.to_text().as_bytes()).unwrap();
    assert_eq!(parsed.extra.as_deref(), Some(&b"context"[..]));
    parsed.verify(&verifier, &f.leaves[3]).unwrap();
}

#[test]
fn every_corrupted_proof_is_refused() {
    let f = fixture();
    let verifier = f.signer.verifier();
    let leaf = &f.leaves[11];
    let text = proof_for(&f, 11, 37).to_text();
    let check = |bytes: &[u8]| TlogProof::parse(bytes).and_then(|p| p.verify(&verifier, leaf));
    check(text.as_bytes()).unwrap();

    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..text.len() {
        for bit in 0..8 {
            let mut bad = text.clone().into_bytes();
            bad[i] ^= 1 << bit;
            cases.push((format!("byte {i} bit {bit}"), bad));
        }
    }
    for cut in 0..text.len() {
        cases.push((
            format!("truncated to {cut}"),
            text.as_bytes()[..cut].to_vec(),
        ));
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let proof_lines = 2..lines.iter().position(|l| l.is_empty()).unwrap();
    for i in proof_lines.clone() {
        let mut without = lines.clone();
        without.remove(i);
        cases.push((
            format!("proof line {i} removed"),
            without.join("\n").into_bytes(),
        ));
        let mut doubled = lines.clone();
        doubled.insert(i, lines[i]);
        cases.push((
            format!("proof line {i} repeated"),
            doubled.join("\n").into_bytes(),
        ));
    }
    let first = proof_lines.start;
    let mut swapped = lines.clone();
    swapped.swap(first, first + 1);
    cases.push((
        "proof lines swapped".into(),
        swapped.join("\n").into_bytes(),
    ));
    let mut extended = lines.clone();
    extended.insert(
        proof_lines.end,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    cases.push(("proof extended".into(), extended.join("\n").into_bytes()));
    for (what, replacement) in [
        ("index + 1", "index 12"),
        ("index - 1", "index 10"),
        ("index with a leading zero", "index 011"),
        ("index with a plus", "index +11"),
        ("index with a space", "index  11"),
        ("index in hex", "index 0xb"),
        ("no index", "11"),
    ] {
        cases.push((
            what.into(),
            text.replacen("index 11", replacement, 1).into_bytes(),
        ));
    }
    cases.extend([
        (
            "garbage before".into(),
            format!("garbage\n{text}").into_bytes(),
        ),
        ("empty line before".into(), format!("\n{text}").into_bytes()),
        (
            "garbage after".into(),
            format!("{text}garbage\n").into_bytes(),
        ),
        ("empty line after".into(), format!("{text}\n").into_bytes()),
        (
            "no header".into(),
            text.replacen(&format!("{HEADER}\n"), "", 1).into_bytes(),
        ),
        (
            "other version".into(),
            text.replacen("@v1", "@v2", 1).into_bytes(),
        ),
        ("CRLF".into(), text.replace('\n', "\r\n").into_bytes()),
        (
            "checkpoint of a smaller tree".into(),
            format!(
                "{}\n\n{}",
                text.split("\n\n").next().unwrap(),
                proof_for(&f, 11, 36).checkpoint
            )
            .into_bytes(),
        ),
        (
            "proof for a smaller tree".into(),
            format!(
                "{}\n\n{}",
                proof_for(&f, 11, 36)
                    .to_text()
                    .split("\n\n")
                    .next()
                    .unwrap(),
                proof_for(&f, 11, 37).checkpoint
            )
            .into_bytes(),
        ),
    ]);
    for (what, bad) in &cases {
        assert!(check(bad).is_err(), "{what}: accepted");
    }
}
