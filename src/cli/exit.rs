//! Exit codes and the failure a verb reports.

use std::fmt;

/// The contract's exit codes (product.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done, all good.
    Ok,
    /// 1: refused, or problems found; nothing was written.
    Problems,
    /// 2: usage error or unreadable input.
    Usage,
    /// 3: a failure while writing.
    WriteFailed,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Problems => 1,
            Exit::Usage => 2,
            Exit::WriteFailed => 3,
        }
    }
}

/// A verb that could not finish: the exit code and the message (what, where, what to do).
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }

    /// Exit 2: bad arguments or an input that cannot be read.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    /// Exit 1: refused; nothing was written.
    pub fn refused(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Problems, message)
    }

    /// Exit 3: a write failed.
    pub fn write(message: impl Into<String>) -> Failure {
        Failure::new(Exit::WriteFailed, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
