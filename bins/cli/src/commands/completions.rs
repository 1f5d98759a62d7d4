//! `countersign completions <shell>`: the completion script `clap_complete` generates from the
//! command tree.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Print the script for `shell` on stdout.
pub fn print(shell: Shell) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "countersign", &mut std::io::stdout());
}
