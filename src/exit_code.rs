//! The three exit codes of every venvfix command, in one place (DESIGN.md "CLI contract").
//!
//! Scripts and CI depend on these numbers, so they are defined once, combined by one rule
//! (the worst wins), and tested here. The library only computes them; the binary exits.

/// What a command's run amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// Nothing broken, or everything asked for was done.
    Success = 0,
    /// Broken venvs remain, or some repairs were not done.
    Problems = 1,
    /// Usage error, I/O error, or a refusal (nothing was changed).
    Error = 2,
}

impl ExitCode {
    /// The process exit status.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Combine two results: the worse one wins.
    pub fn worst(self, other: ExitCode) -> ExitCode {
        self.max(other)
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    #[test]
    fn numbers_are_the_contract() {
        assert_eq!(ExitCode::Success.code(), 0);
        assert_eq!(ExitCode::Problems.code(), 1);
        assert_eq!(ExitCode::Error.code(), 2);
    }

    #[test]
    fn the_worst_wins() {
        assert_eq!(
            ExitCode::Success.worst(ExitCode::Problems),
            ExitCode::Problems
        );
        assert_eq!(ExitCode::Error.worst(ExitCode::Problems), ExitCode::Error);
        assert_eq!(
            ExitCode::Success.worst(ExitCode::Success),
            ExitCode::Success
        );
    }
}
