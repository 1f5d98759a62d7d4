//! C2SP `signed-note` and `tlog-checkpoint`: published vectors (Go's `sumdb/note`, the C2SP
//! specification, a `sum.golang.org` checkpoint), the key id formula, and every corrupted
//! note or checkpoint refused.

use std::path::Path;

use base64::prelude::*;
use countersign_tlog::hash::parse_hash;
use countersign_tlog::note::key_id;
use countersign_tlog::{leaf_hash, Checkpoint, Hash, LogSigner, LogVerifier, TlogError};
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Deserialize)]
struct Vector {
    source: String,
    signer_key: Option<String>,
    verifier_key: String,
    text: String,
    note: String,
}

fn vectors() -> Vec<Vector> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/signed-note/vectors.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn published_notes_open_with_their_keys() {
    for v in vectors() {
        let verifier = LogVerifier::new(&v.verifier_key).unwrap();
        assert_eq!(verifier.verifier_key(), v.verifier_key, "{}", v.source);
        assert_eq!(
            verifier.open(v.note.as_bytes()).unwrap(),
            v.text,
            "{}",
            v.source
        );
    }
}

#[test]
fn signing_reproduces_go_s_note_byte_for_byte() {
    let v = vectors()
        .into_iter()
        .find(|v| v.signer_key.is_some())
        .unwrap();
    let signer = LogSigner::from_secret(v.signer_key.as_deref().unwrap()).unwrap();
    assert_eq!(signer.verifier_key(), v.verifier_key);
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    // Ed25519 is deterministic, so the signature is the published one.
    assert_eq!(signer.sign_text(&v.text).unwrap(), v.note);
    assert!(
        !format!("{signer:?}").contains("AYEKFALVF"),
        "Debug shows the key"
    );
}

#[test]
fn key_id_is_the_first_four_bytes_of_the_spec_hash() {
    for v in vectors() {
        let verifier = LogVerifier::new(&v.verifier_key).unwrap();
        let mut h = Sha256::new();
        h.update(verifier.name().as_bytes());
        h.update([0x0a, 0x01]);
        h.update(verifier.public_key());
        let digest = h.finalize();
        let want = u32::from_be_bytes(digest[..4].try_into().unwrap());
        assert_eq!(
            key_id(verifier.name(), &verifier.public_key()),
            want,
            "{}",
            v.source
        );
        assert_eq!(verifier.key_id(), want, "{}", v.source);
        assert!(v.verifier_key.contains(&format!("+{want:08x}+")));
    }
}

#[test]
fn a_real_checkpoint_parses_and_its_origin_must_be_the_key_name() {
    let v = vectors()
        .into_iter()
        .find(|v| v.source.starts_with("sum.golang.org"))
        .unwrap();
    let verifier = LogVerifier::new(&v.verifier_key).unwrap();
    let checkpoint =
        Checkpoint::parse_body(verifier.open(v.note.as_bytes()).unwrap().as_bytes()).unwrap();
    assert_eq!(checkpoint.origin, "go.sum database tree");
    assert_eq!(checkpoint.size, 13_485);
    assert_eq!(
        checkpoint.root,
        parse_hash("/ZWur4obeiqK+ASdnPK+/Rmz6LPQMUeSmHh0+UkL54Y=").unwrap()
    );
    // Its origin is not its key's name: as a Countersign checkpoint it is refused.
    assert!(matches!(
        verifier.open_checkpoint(v.note.as_bytes()),
        Err(TlogError::Checkpoint(_))
    ));
}

fn test_root() -> Hash {
    leaf_hash(b"root")
}

fn signed(signer: &LogSigner, size: u64) -> String {
    signer
        .sign_checkpoint(&Checkpoint::new(signer.name(), size, test_root()))
        .unwrap()
}

#[test]
fn a_generated_key_signs_checkpoints_its_verifier_opens() {
    let (signer, secret) = LogSigner::generate("countersign.example/log").unwrap();
    assert!(secret.starts_with("PRIVATE+KEY+countersign.example/log+"));
    let again = LogSigner::from_secret(&format!("{secret}\n")).unwrap();
    assert_eq!(again.verifier_key(), signer.verifier_key());

    let vkey = signer.verifier_key();
    let (name, rest) = vkey.split_once('+').unwrap();
    let (id, key) = rest.split_once('+').unwrap();
    assert_eq!(name, "countersign.example/log");
    assert_eq!(id, format!("{:08x}", signer.key_id()));
    assert_eq!(
        BASE64_STANDARD.decode(key).unwrap(),
        [&[0x01][..], &signer.public_key()].concat()
    );

    let mut checkpoint = Checkpoint::new(signer.name(), 42, test_root());
    checkpoint.extensions = vec!["ext one".into(), "— not a signature".into()];
    let note = signer.sign_checkpoint(&checkpoint).unwrap();
    let body = checkpoint.to_body().unwrap();
    assert_eq!(
        body,
        format!(
            "countersign.example/log\n42\n{}\next one\n— not a signature\n",
            test_root()
        )
    );
    assert!(note.starts_with(&body));
    let verifier = LogVerifier::new(&vkey).unwrap();
    assert_eq!(
        verifier.open_checkpoint(note.as_bytes()).unwrap(),
        checkpoint
    );

    // A generic Ed25519 verification of the signature line, given only the served key.
    let sig_line = note.strip_prefix(&format!("{body}\n")).unwrap();
    let b64 = sig_line
        .strip_prefix(&format!("— {name} "))
        .unwrap()
        .strip_suffix('\n')
        .unwrap();
    let sig = BASE64_STANDARD.decode(b64).unwrap();
    assert_eq!(&sig[..4], &signer.key_id().to_be_bytes());
    let pk: [u8; 32] = BASE64_STANDARD.decode(key).unwrap()[1..]
        .try_into()
        .unwrap();
    let sig = Signature::from_bytes(sig[4..].try_into().unwrap());
    VerifyingKey::from_bytes(&pk)
        .unwrap()
        .verify(body.as_bytes(), &sig)
        .unwrap();
}

#[test]
fn corrupted_signed_checkpoints_are_refused() {
    let (signer, _) = LogSigner::generate("countersign.example/log").unwrap();
    let verifier = signer.verifier();
    let note = signed(&signer, 7);
    verifier.open_checkpoint(note.as_bytes()).unwrap();
    let (other, _) = LogSigner::generate("countersign.example/log").unwrap();
    let (elsewhere, _) = LogSigner::generate("elsewhere.example/log").unwrap();

    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        (
            "garbage before".into(),
            format!("garbage\n{note}").into_bytes(),
        ),
        ("blank line before".into(), format!("\n{note}").into_bytes()),
        (
            "garbage after".into(),
            format!("{note}garbage\n").into_bytes(),
        ),
        (
            "garbage after, no newline".into(),
            format!("{note}x").into_bytes(),
        ),
        ("blank line after".into(), format!("{note}\n").into_bytes()),
        (
            "no final newline".into(),
            note.trim_end().as_bytes().to_vec(),
        ),
        (
            "no signature".into(),
            note.as_bytes()[..note.find("\n\n").unwrap() + 2].to_vec(),
        ),
        (
            "no blank line".into(),
            note.replacen("\n\n", "\n", 1).into_bytes(),
        ),
        ("CRLF".into(), note.replace('\n', "\r\n").into_bytes()),
        (
            "body only".into(),
            signed(&signer, 7)
                .split("\n\n")
                .next()
                .unwrap()
                .as_bytes()
                .to_vec(),
        ),
        (
            "signed by another key".into(),
            signed(&other, 7).into_bytes(),
        ),
        (
            "another log's checkpoint".into(),
            signed(&elsewhere, 7).into_bytes(),
        ),
        (
            "size changed".into(),
            note.replacen("\n7\n", "\n8\n", 1).into_bytes(),
        ),
        (
            "size with a leading zero".into(),
            note.replacen("\n7\n", "\n07\n", 1).into_bytes(),
        ),
        (
            "signature from another size".into(),
            format!(
                "{}\n\n{}",
                note.split("\n\n").next().unwrap(),
                signed(&signer, 8).split("\n\n").nth(1).unwrap()
            )
            .into_bytes(),
        ),
        (
            "valid signature, then a bad one by the same key".into(),
            format!("{note}{}", signed(&signer, 8).split("\n\n").nth(1).unwrap()).into_bytes(),
        ),
    ];
    // Every bit of every byte.
    for i in 0..note.len() {
        for bit in 0..8 {
            let mut bad = note.clone().into_bytes();
            bad[i] ^= 1 << bit;
            cases.push((format!("byte {i} bit {bit} flipped"), bad));
        }
    }
    // Truncated anywhere.
    for cut in 0..note.len() {
        cases.push((
            format!("truncated to {cut}"),
            note.as_bytes()[..cut].to_vec(),
        ));
    }
    for (what, bad) in &cases {
        assert!(verifier.open_checkpoint(bad).is_err(), "{what}: accepted");
    }

    // A signature by an unknown key beside a valid one is ignored (C2SP: verifiers MUST
    // ignore signatures from unknown keys).
    let cosigned = format!(
        "{note}{}",
        signed(&elsewhere, 7).split("\n\n").nth(1).unwrap()
    );
    assert!(verifier.open(cosigned.as_bytes()).is_ok());
}

#[test]
fn checkpoint_bodies_parse_exactly() {
    let root = test_root();
    let good = format!("example.com/log\n123\n{root}\n");
    let parsed = Checkpoint::parse_body(good.as_bytes()).unwrap();
    assert_eq!(parsed, Checkpoint::new("example.com/log", 123, root));
    assert_eq!(parsed.to_body().unwrap(), good);
    let with_ext = format!("example.com/log\n123\n{root}\nabc\ndef\n");
    let parsed = Checkpoint::parse_body(with_ext.as_bytes()).unwrap();
    assert_eq!(parsed.extensions, vec!["abc", "def"]);
    assert_eq!(parsed.to_body().unwrap(), with_ext);

    for bad in [
        String::new(),
        format!("\n123\n{root}\n"),
        format!("example.com/log\n123\n{root}"),
        format!("example.com/log\n0x7b\n{root}\n"),
        format!("example.com/log\n0123\n{root}\n"),
        format!("example.com/log\n+123\n{root}\n"),
        format!("example.com/log\n-1\n{root}\n"),
        format!("example.com/log\n18446744073709551616\n{root}\n"),
        "example.com/log\n123\nV3JvbmdSb290\n".to_owned(),
        format!("example.com/log\n123\n{}\n", &root.to_string()[..43]),
        format!("example.com/log\n123\n{root}\n\n"),
        format!("example.com/log\n123\n{root}\nabc\n\n"),
        format!("example.com/log\n123\n{root}\nabc"),
        format!("garbage\nexample.com/log\n123\n{root}\n"),
        format!("example.com/log\n123\n\n{root}\n"),
    ] {
        assert!(Checkpoint::parse_body(bad.as_bytes()).is_err(), "{bad:?}");
    }

    assert!(Checkpoint::new("", 1, root).to_body().is_err());
    assert!(Checkpoint::new("a\nb", 1, root).to_body().is_err());
    let mut empty_ext = Checkpoint::new("a", 1, root);
    empty_ext.extensions = vec![String::new()];
    assert!(empty_ext.to_body().is_err());
}

#[test]
fn malformed_keys_are_refused() {
    let (signer, secret) = LogSigner::generate("countersign.example/log").unwrap();
    let vkey = signer.verifier_key();
    let flip_id = {
        let (name, rest) = vkey.split_once('+').unwrap();
        let (id, key) = rest.split_once('+').unwrap();
        let id = u32::from_str_radix(id, 16).unwrap() ^ 1;
        format!("{name}+{id:08x}+{key}")
    };
    for bad in [
        String::new(),
        "countersign.example/log".to_owned(),
        flip_id,
        vkey.replacen("+A", "+B", 1),
        format!("{vkey}A"),
        vkey.replace("countersign.example/log", "other.example/log"),
        vkey.replace("countersign.example/log", "has space"),
        secret.clone(),
    ] {
        assert!(LogVerifier::new(&bad).is_err(), "{bad:?}");
    }
    for bad in [
        String::new(),
        vkey.clone(),
        secret.replacen("PRIVATE+KEY", "PRIVATE+KEYS", 1),
        secret.replace("countersign.example/log", "other.example/log"),
        format!("{secret}A"),
    ] {
        assert!(LogSigner::from_secret(&bad).is_err(), "{bad:?}");
    }
    for bad in ["", "has space", "a+b", "tab\there"] {
        assert!(LogSigner::generate(bad).is_err(), "{bad:?}");
    }
    // A signer refuses a checkpoint for another origin.
    assert!(signer
        .sign_checkpoint(&Checkpoint::new("other.example/log", 1, test_root()))
        .is_err());
}
