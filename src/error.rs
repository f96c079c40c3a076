//! The one error type of the crate.
//!
//! Every variant carries what went wrong and where: the file, the layer, the key, the shapes. The command-line
//! front end prints the whole cause chain and exits with status 2 for any of them.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in lcr-verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // === Files and formats ===
    /// An operating-system error while touching a file.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", "renaming", ...).
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file exists but its contents are not what its format requires.
    #[error("{path}: {problem}")]
    Format {
        /// The malformed file.
        path: PathBuf,
        /// What is wrong with it, in words.
        problem: String,
    },
    /// A file's digest differs from the recorded one.
    #[error("{path}: checksum mismatch: expected {function} {expected}, found {found}")]
    Checksum {
        /// The file whose content changed.
        path: PathBuf,
        /// The hash function of both digests (`sha256`, `blake3`).
        function: &'static str,
        /// The recorded digest.
        expected: String,
        /// The digest of what is on disk.
        found: String,
    },
    /// A required file or directory is missing.
    #[error("{path}: {what} not found")]
    Missing {
        /// The path that was looked for.
        path: PathBuf,
        /// What it should have been ("dataset file", "model", ...).
        what: &'static str,
    },

    /// Another process owns a directory this stage would write: the lock file exists and its holder runs, or
    /// cannot be judged (see [`crate::lock`]).
    #[error(
        "{path}: the directory is in use by {holder}; wait for that command to finish, or remove this lock file \
         if it no longer runs"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, in words (process id, host, command, since when).
        holder: String,
    },

    // === Configuration ===
    /// A configuration key or flag has a value that cannot be used.
    #[error("invalid value for `{key}`: {problem}")]
    Config {
        /// The key or flag.
        key: String,
        /// Why the value is rejected.
        problem: String,
    },

    // === Models ===
    /// A model's tensors do not match what its recorded architecture requires.
    #[error("model {path}: {problem}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is inconsistent.
        problem: String,
    },
    /// A tensor has an unexpected shape.
    #[error("{context}: expected shape {expected:?}, found {found:?}")]
    Shape {
        /// Where the shape was checked (layer or tensor name).
        context: String,
        /// The shape required.
        expected: Vec<usize>,
        /// The shape found.
        found: Vec<usize>,
    },
    /// A value that must be finite is NaN or infinite.
    #[error("{context}: non-finite value")]
    NonFinite {
        /// Where the value was found.
        context: String,
    },

    // === Imported networks ===
    /// The spec or the weights of a network to import are refused: a layer that cannot be used, or a tensor that
    /// is missing, left over, or of the wrong shape, type or value.
    #[error("{path}: {layer}: {problem}")]
    Import {
        /// The spec or weights file at fault.
        path: PathBuf,
        /// Where in the spec: a layer (its position, tensor prefix and kind, e.g. ``layer 4 `layer1.0.conv1`
        /// (conv)``), or the top-level key concerned.
        layer: String,
        /// What is wrong, naming the tensor when one is at fault.
        problem: String,
    },

    // === Numerics ===
    /// An iterative routine stopped at its iteration cap without converging.
    #[error("{method} did not converge within {iterations} iterations ({context})")]
    NotConverged {
        /// The routine ("svd", "power iteration", ...).
        method: &'static str,
        /// Its iteration cap.
        iterations: usize,
        /// The layer or object it was applied to.
        context: String,
    },
    /// A solver ended with a status that gives no usable result.
    #[error("{solver} returned status {status} ({context})")]
    Solver {
        /// The solver's name.
        solver: &'static str,
        /// Its status, by name.
        status: String,
        /// What was being solved.
        context: String,
    },
    /// A request exceeds what a method can do in reasonable time or memory.
    #[error("{method}: {problem}")]
    TooLarge {
        /// The method that refuses.
        method: &'static str,
        /// The limit and the size asked for.
        problem: String,
    },
    /// A method does not apply to this network: a layer it does not handle, no binary layer, a function with no
    /// finite Lipschitz constant. Not a fault of the caller's values (those are [`Error::Config`]).
    #[error("{method}: {reason}")]
    NotApplicable {
        /// The method that does not apply.
        method: &'static str,
        /// What about the network rules it out.
        reason: String,
    },

    // === Wrapped library errors ===
    /// An error inside candle, with what was being done.
    #[error("{context}: {source}")]
    Candle {
        /// What was being done.
        context: String,
        /// candle's error.
        source: candle_core::Error,
    },
}

impl Error {
    /// Shorthand for [`Error::Format`].
    pub fn format(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Format { path: path.into(), problem: problem.into() }
    }

    /// Shorthand for [`Error::Config`].
    pub fn config(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Config { key: key.into(), problem: problem.into() }
    }

    /// Shorthand for [`Error::NotApplicable`].
    pub fn not_applicable(method: &'static str, reason: impl Into<String>) -> Self {
        Error::NotApplicable { method, reason: reason.into() }
    }

    /// The same error said to be about `what` (a file, a model): errors that carry a bare context (a tensor
    /// operation, a shape, a non-finite value) get `what` in front of it; errors that name their file already
    /// are left as they are. Stages apply it at their boundary, so that an error deep in a computation still
    /// names the model it was about.
    pub fn about(self, what: impl std::fmt::Display) -> Self {
        let prefixed = |context: String| {
            let what = what.to_string();
            if context.starts_with(&what) { context } else { format!("{what}: {context}") }
        };
        match self {
            Error::Candle { context, source } => Error::Candle { context: prefixed(context), source },
            Error::Shape { context, expected, found } => {
                Error::Shape { context: prefixed(context), expected, found }
            }
            Error::NonFinite { context } => Error::NonFinite { context: prefixed(context) },
            Error::NotConverged { method, iterations, context } => {
                Error::NotConverged { method, iterations, context: prefixed(context) }
            }
            Error::Solver { solver, status, context } => {
                Error::Solver { solver, status, context: prefixed(context) }
            }
            other => other,
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}

impl From<candle_core::Error> for Error {
    fn from(source: candle_core::Error) -> Self {
        Error::Candle { context: "tensor operation".into(), source }
    }
}

/// Adds context to candle results.
pub trait CandleContext<T> {
    /// Replaces the generic context of a candle error with `context`.
    fn context(self, context: impl Into<String>) -> Result<T>;
}

impl<T> CandleContext<T> for std::result::Result<T, candle_core::Error> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::Candle { context: context.into(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_with_a_bare_context_are_said_to_be_about_the_file() {
        let bare = Error::Candle {
            context: "tensor operation".into(),
            source: candle_core::Error::Msg("shape mismatch in matmul".into()),
        };
        let text = bare.about("runs/a/model.safetensors").to_string();
        assert!(text.starts_with("runs/a/model.safetensors: tensor operation: shape mismatch"), "{text}");
        let shape = Error::Shape { context: "sample 0".into(), expected: vec![784], found: vec![1024] };
        assert!(shape.about("m").to_string().starts_with("m: sample 0"));
        // Said twice, named once.
        let twice = Error::NonFinite { context: "x".into() }.about("m").about("m");
        assert_eq!(twice.to_string(), "m: x: non-finite value");
        // Errors that name their file keep their own words.
        let io = Error::Missing { path: "a/b".into(), what: "model file" };
        assert_eq!(io.about("m").to_string(), "a/b: model file not found");
    }
}
