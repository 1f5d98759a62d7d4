//! Child processes for process tests: a clean environment (nothing from the developer's
//! shell configures the service, none of cargo's test variables leak), stdout and stderr in
//! files of a scratch directory, readiness polling, and stopping by signal.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::http;
use crate::names::unique;

/// Upper bound for a process to start answering, come ready or print what it announces.
pub const STARTUP: Duration = Duration::from_secs(60);
/// Upper bound for a process to exit after a signal.
pub const SHUTDOWN: Duration = Duration::from_secs(20);

/// Remove from `cmd`'s environment the variables cargo sets for a test process. Build
/// scripts that track one of them (ring's tracks `CARGO_MANIFEST_DIR`) would otherwise rerun,
/// and everything above them rebuild, whenever builds from a test and from elsewhere
/// alternate; and a process started "as a user would" must not see them either.
pub fn without_test_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_tests = ["CARGO_PKG_", "CARGO_BIN_", "CARGO_MANIFEST_"]
            .iter()
            .any(|p| name.starts_with(p))
            || matches!(
                &*name,
                "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            );
        if set_for_tests {
            cmd.env_remove(&*name);
        }
    }
}

/// `bin` with nothing configured: no `COUNTERSIGN_*`, no `DATABASE_URL` (the server's
/// fallback), no `RUST_LOG`, none of cargo's test variables; standard input closed. The
/// test sets what it needs.
pub fn command(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("COUNTERSIGN_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    without_test_env(&mut cmd);
    cmd
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

/// A running child process, killed if still running when dropped. Its stdout and stderr
/// (the log) go to files in a scratch directory; the log is printed if the test fails.
#[derive(Debug)]
pub struct Proc {
    name: &'static str,
    child: Option<Child>,
    out: PathBuf,
    log: PathBuf,
}

impl Proc {
    /// Start `cmd` (usually from [`command`]), naming it `name` in messages.
    pub fn spawn(name: &'static str, mut cmd: Command, scratch: &Path) -> Self {
        let stem = unique(name);
        let out = scratch.join(format!("{stem}.out"));
        let log = scratch.join(format!("{stem}.log"));
        let child = cmd
            .stdout(File::create(&out).expect("create the stdout file"))
            .stderr(File::create(&log).expect("create the log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self {
            name,
            child: Some(child),
            out,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child().id()
    }

    fn child(&self) -> &Child {
        self.child
            .as_ref()
            .unwrap_or_else(|| panic!("{} has exited", self.name))
    }

    /// Panic (with the log) if the process has exited.
    #[track_caller]
    pub fn assert_running(&mut self) {
        let name = self.name;
        let child = self
            .child
            .as_mut()
            .unwrap_or_else(|| panic!("{name} has exited"));
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{name} exited early with {status}:\n{}", self.log_tail());
        }
    }

    /// Poll `path` on `port` until it answers `status`, within [`STARTUP`], while the
    /// process keeps running.
    #[track_caller]
    pub fn wait_for_status(&mut self, port: u16, path: &str, status: u16) {
        let deadline = Instant::now() + STARTUP;
        loop {
            self.assert_running();
            let got = http::get(port, path);
            if got.status == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {path} answered {} (not {status}) for {STARTUP:?}: {}\n{}",
                self.name,
                got.status,
                got.body,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// [`wait_for_status`](Self::wait_for_status) for `/readyz` and 200.
    #[track_caller]
    pub fn wait_ready(&mut self, port: u16) {
        self.wait_for_status(port, "/readyz", 200);
    }

    /// The one whitespace-separated word starting with `prefix` on a complete line of stdout,
    /// waiting (bounded by [`STARTUP`]) for it; panics if there are several.
    #[track_caller]
    pub fn announced(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + STARTUP;
        loop {
            let text = self.stdout();
            let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            let words: Vec<&str> = complete
                .split_whitespace()
                .filter(|w| w.starts_with(prefix))
                .collect();
            match words.as_slice() {
                [word] => return (*word).to_owned(),
                [] => {}
                _ => panic!(
                    "{}: more than one `{prefix}…` on stdout:\n{text}",
                    self.name
                ),
            }
            if self.child.is_some() {
                self.assert_running();
            }
            assert!(
                Instant::now() < deadline,
                "{}: no `{prefix}…` on stdout in {STARTUP:?}:\n{text}\n--- log ---\n{}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send `signal` (`TERM`, `INT`, …) and wait, within [`SHUTDOWN`], for the exit status.
    #[track_caller]
    pub fn signal(&mut self, signal: &str) -> ExitStatus {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args([format!("-{signal}"), pid.clone()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {pid}");
        let deadline = Instant::now() + SHUTDOWN;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {SHUTDOWN:?} of SIG{signal}:\n{}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, as a service manager stops it; the exit status.
    #[track_caller]
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM")
    }

    /// SIGINT (Ctrl-C at the terminal running it); the exit status.
    #[track_caller]
    pub fn interrupt(&mut self) -> ExitStatus {
        self.signal("INT")
    }

    /// Everything the process has written to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Everything the process has written to stderr (its log) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last 8 KiB of the log.
    pub fn log_tail(&self) -> String {
        let mut f = match File::open(&self.log) {
            Ok(f) => f,
            Err(e) => return format!("(no log: {e})"),
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(8 * 1024)));
        let mut s = Vec::new();
        let _ = f.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- {} stdout ---\n{}\n--- {} log (tail) ---\n{}",
                self.name,
                self.stdout(),
                self.name,
                self.log_tail()
            );
        }
    }
}
