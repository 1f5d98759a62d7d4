//! The service's executables for process tests: `countersign-server` and
//! `countersign-scheduler`, built once per test process with the cargo, profile and target
//! directory of the running test (a no-op when they are fresh).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::process::without_test_env;

/// `countersign-server`.
pub fn server() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("countersign-server", "countersign-server"))
}

/// `countersign-scheduler`.
pub fn scheduler() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("countersign-scheduler", "countersign-scheduler"))
}

/// The profile directory the running test binary was built into (`target/debug`, …): test
/// binaries live in its `deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the test binary's directory");
    let dir = if deps.file_name().and_then(|n| n.to_str()) == Some("deps") {
        deps.parent().expect("the profile directory")
    } else {
        deps
    };
    dir.to_path_buf()
}

fn build(package: &str, bin: &str) -> PathBuf {
    let dir = profile_dir();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "-p", package, "--bin", bin])
        .current_dir(&workspace);
    match dir.file_name().and_then(|p| p.to_str()).unwrap_or("debug") {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    without_test_env(&mut cmd);
    let out = cmd.output().expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build -p {package} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}
