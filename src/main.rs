//! The `lcr-verify` command: parse, run, map the outcome to an exit status (0 ok, 1 a check failed, 2 error).

use std::process::ExitCode;

use clap::Parser;
use lcr_verify::cli::{self, Cli, Command, Outcome};

mod huge_pages;

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
    if matches!(
        parsed.command,
        Command::Corrupt(_) | Command::Robustness(_) | Command::Train(_) | Command::Run(_)
    ) {
        keep_freed_memory();
        join_the_pool();
    }
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

/// Makes this thread one of the global rayon pool's workers (of `RAYON_NUM_THREADS`, or one per core), instead of
/// a thread that hands each parallel loop to the pool and sleeps until it is done: with one thread
/// (`RAYON_NUM_THREADS=1`) the pool starts no thread of its own (a progress bar's ticker and candle's
/// element-wise pool still may). Measured on `corrupt` of one 224-px photograph:
/// see the README's speed section.
fn join_the_pool() {
    // An error means the pool exists already, which it cannot this early; the default pool serves then.
    let _ = rayon::ThreadPoolBuilder::new().use_current_thread().build_global();
}

/// Keeps memory the process frees for its next allocations instead of handing it back to the system.
///
/// The corruption stages allocate and free image-sized buffers (0.6 MB for a 224-px float image) for every
/// image, and training allocates and frees activation-sized tensors (6 MiB in the ResNet's first stage) at every
/// step. glibc's allocator serves blocks above its mmap threshold with fresh mappings and trims the top of the
/// heap as soon as a little more than that lies free there, so each such buffer came back from the kernel as
/// fresh zeroed pages, one page fault per 4 KiB: measured, half of the CPU time of `corrupt --corruptions
/// defocus_blur` at 224 px was the kernel's, and 45 % of a ResNet training step's. A fixed mmap threshold of 64 MiB (a fixed value also stops glibc
/// from moving it) and no trimming below 1 GiB keep these buffers in the heap; memory freed stays with the
/// process until it exits.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, and no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
