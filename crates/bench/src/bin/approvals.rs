//! Placeholder: the `approvals` suite.

fn main() {
    eprintln!("the approvals suite is not written yet");
}
