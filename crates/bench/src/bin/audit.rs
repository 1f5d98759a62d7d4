//! Placeholder: the `audit` suite.

fn main() {
    eprintln!("the audit suite is not written yet");
}
