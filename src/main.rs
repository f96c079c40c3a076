//! The `lcr-verify` command: parse, run, map the outcome to an exit status (0 ok, 1 a check failed, 2 error).

use std::process::ExitCode;

use clap::Parser;
use lcr_verify::cli::{self, Cli, Outcome};

fn main() -> ExitCode {
    // candle spreads element-wise operations over a spin-waiting thread pool of its own, beside the rayon pool its
    // matrix products use. On machines with few cores the two pools contend and the spinning costs more than it
    // saves (measured: a binary-MLP training step 2–3× slower), so unless the user chose otherwise, element-wise
    // work stays on one thread; matrix products and convolutions still use every core.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: no other thread exists yet, so nothing can read the environment concurrently.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
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
