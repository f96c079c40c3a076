//! How an LP solve ended, by name: microlp's outcomes, good_lp's errors, every Clarabel status and the
//! backward pass's acceptance.
//!
//! A status never decides soundness: the certified LP value is a weak-duality bound that holds for any
//! multipliers (theorem L2, `proofs/lp.md`). It is recorded so that a reader can tell a converged solve from a
//! stopped or failed one, and the primal check uses it to decide whether a primal objective is an optimum.
//!
//! In files a status is one kebab-case string (`"optimal"`, `"almost-solved"`, `"error: <message>"`).

use std::fmt;
use std::str::FromStr;

use good_lp::{ResolutionError, SolutionStatus};
use serde::{Deserialize, Serialize};

/// The outcome of one solve.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum SolveStatus {
    // === microlp (simplex), through good_lp ===
    /// An optimal basis was found.
    Optimal,
    /// The time limit stopped the solve.
    TimeLimit,
    /// The optimality-gap limit stopped the solve.
    GapLimit,

    // === good_lp's errors ===
    /// The problem has no feasible point (Clarabel's primal infeasibility reaches us this way).
    Infeasible,
    /// The objective is unbounded.
    Unbounded,
    /// Any other failure, with the solver's message (Clarabel's stopped and failed solves reach us this way).
    Error(String),

    // === Clarabel (interior point), read from its solution ===
    /// Clarabel has not run.
    Unsolved,
    /// A solution to the requested accuracy.
    Solved,
    /// A primal infeasibility certificate.
    PrimalInfeasible,
    /// A dual infeasibility certificate.
    DualInfeasible,
    /// A solution to reduced accuracy.
    AlmostSolved,
    /// A primal infeasibility certificate to reduced accuracy.
    AlmostPrimalInfeasible,
    /// A dual infeasibility certificate to reduced accuracy.
    AlmostDualInfeasible,
    /// The iteration limit stopped the solve.
    MaxIterations,
    /// The time limit stopped the solve.
    MaxTime,
    /// A numerical error stopped the solve.
    NumericalError,
    /// The solve stopped for lack of progress.
    InsufficientProgress,
    /// A user callback stopped the solve.
    CallbackTerminated,

    // === the backward pass (theorem L4, `proofs/lp.md`) ===
    /// Closed-form multipliers of the global LP, accepted: the certified value is within the gap tolerance of
    /// the value of the pass's own primal point.
    ClosedForm,
}

impl SolveStatus {
    /// Every status without a message, with its name.
    const NAMED: [(SolveStatus, &'static str); 18] = [
        (SolveStatus::Optimal, "optimal"),
        (SolveStatus::TimeLimit, "time-limit"),
        (SolveStatus::GapLimit, "gap-limit"),
        (SolveStatus::Infeasible, "infeasible"),
        (SolveStatus::Unbounded, "unbounded"),
        (SolveStatus::Unsolved, "unsolved"),
        (SolveStatus::Solved, "solved"),
        (SolveStatus::PrimalInfeasible, "primal-infeasible"),
        (SolveStatus::DualInfeasible, "dual-infeasible"),
        (SolveStatus::AlmostSolved, "almost-solved"),
        (SolveStatus::AlmostPrimalInfeasible, "almost-primal-infeasible"),
        (SolveStatus::AlmostDualInfeasible, "almost-dual-infeasible"),
        (SolveStatus::MaxIterations, "max-iterations"),
        (SolveStatus::MaxTime, "max-time"),
        (SolveStatus::NumericalError, "numerical-error"),
        (SolveStatus::InsufficientProgress, "insufficient-progress"),
        (SolveStatus::CallbackTerminated, "callback-terminated"),
        (SolveStatus::ClosedForm, "closed-form"),
    ];

    /// The prefix of an [`SolveStatus::Error`] in its name.
    const ERROR_PREFIX: &'static str = "error: ";
}

impl fmt::Display for SolveStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let SolveStatus::Error(message) = self {
            return write!(f, "{}{message}", Self::ERROR_PREFIX);
        }
        let (_, name) = Self::NAMED.iter().find(|(s, _)| s == self).expect("every other status is named");
        f.write_str(name)
    }
}

impl FromStr for SolveStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(message) = s.strip_prefix(Self::ERROR_PREFIX) {
            return Ok(SolveStatus::Error(message.to_string()));
        }
        Self::NAMED
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(status, _)| status.clone())
            .ok_or_else(|| format!("unknown solver status `{s}`"))
    }
}

impl From<SolveStatus> for String {
    fn from(s: SolveStatus) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for SolveStatus {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<SolutionStatus> for SolveStatus {
    fn from(s: SolutionStatus) -> Self {
        match s {
            SolutionStatus::Optimal => SolveStatus::Optimal,
            SolutionStatus::TimeLimit => SolveStatus::TimeLimit,
            SolutionStatus::GapLimit => SolveStatus::GapLimit,
        }
    }
}

impl From<&ResolutionError> for SolveStatus {
    fn from(e: &ResolutionError) -> Self {
        match e {
            ResolutionError::Unbounded => SolveStatus::Unbounded,
            ResolutionError::Infeasible => SolveStatus::Infeasible,
            ResolutionError::Other(s) => SolveStatus::Error(s.to_string()),
            ResolutionError::Str(s) => SolveStatus::Error(s.clone()),
        }
    }
}

impl From<clarabel::solver::SolverStatus> for SolveStatus {
    fn from(s: clarabel::solver::SolverStatus) -> Self {
        use clarabel::solver::SolverStatus as C;
        match s {
            C::Unsolved => SolveStatus::Unsolved,
            C::Solved => SolveStatus::Solved,
            C::PrimalInfeasible => SolveStatus::PrimalInfeasible,
            C::DualInfeasible => SolveStatus::DualInfeasible,
            C::AlmostSolved => SolveStatus::AlmostSolved,
            C::AlmostPrimalInfeasible => SolveStatus::AlmostPrimalInfeasible,
            C::AlmostDualInfeasible => SolveStatus::AlmostDualInfeasible,
            C::MaxIterations => SolveStatus::MaxIterations,
            C::MaxTime => SolveStatus::MaxTime,
            C::NumericalError => SolveStatus::NumericalError,
            C::InsufficientProgress => SolveStatus::InsufficientProgress,
            C::CallbackTerminated => SolveStatus::CallbackTerminated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_read_back() {
        let mut names: Vec<&str> = SolveStatus::NAMED.iter().map(|(_, n)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SolveStatus::NAMED.len());
        for (status, name) in
            SolveStatus::NAMED.iter().cloned().chain([(SolveStatus::Error("x: y".into()), "")])
        {
            let json = serde_json::to_value(&status).unwrap();
            assert!(json.is_string(), "{status:?} serialises as {json}");
            if !name.is_empty() {
                assert_eq!(json, name);
            }
            assert_eq!(serde_json::from_value::<SolveStatus>(json).unwrap(), status);
        }
        assert!(serde_json::from_value::<SolveStatus>(serde_json::json!("Solved")).is_err());
    }
}
