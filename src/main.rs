//! The `lcr-verify` command: parse, run, map the outcome to an exit status (0 ok, 1 a check failed, 2 error).

use std::process::ExitCode;

use clap::Parser;
use lcr_verify::cli::{self, Cli, Outcome};

fn main() -> ExitCode {
    let parsed = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli::run(parsed) {
        // A closed pipe (`lcr-verify eval | head`) is not a failure.
        Err(lcr_verify::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(1),
        Err(e) => {
            // Every variant's message already names the file or key and includes its cause.
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
