//! `countersign`: the Countersign command line. Parses the command line (usage errors exit
//! 2), runs the command on a single-threaded runtime, and turns a failure into one
//! `error: …` line on stderr and its exit code (1 API or command failure, 3 unreachable).

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod client;
mod commands;
mod config;
mod error;
mod output;
mod tile_dir;
mod timearg;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let json = cli.global.json;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(error::EXIT_FAILURE as u8);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let (true, error::CliError::Api(api)) = (json, &e) {
                if serde_json::from_slice::<serde_json::Value>(&api.body).is_ok() {
                    output::print_raw_json(&api.body);
                }
            }
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
