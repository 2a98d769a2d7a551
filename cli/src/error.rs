//! The CLI's errors and their exit codes. Every error is printed as one `error: …` line on
//! stderr (a parse error adds the expression and a caret under the column).
//!
//! | exit code | meaning |
//! | --- | --- |
//! | 1 | the server rejected a call (e.g. `TypeError: 'nope' is not a function.`), or timed out |
//! | 2 | usage: a bad URL, header or expression, or an expression that cannot be evaluated |
//! | 3 | the connection failed: refused, handshake failed, lost |

use std::fmt;

/// An error that ends the program (or, in the REPL, one line).
#[derive(Debug)]
pub(crate) enum CliError {
    /// A bad command line: URL, header.
    Usage(String),
    /// A parse error, already rendered with the caret.
    Parse(String),
    /// An expression that parses but cannot be evaluated (calling a method of a number).
    Eval(String),
    /// The connection could not be made, or was lost.
    Connect(String),
    /// The server rejected a call (or it timed out).
    Rpc(String),
}

impl CliError {
    /// The process exit code for this error.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Rpc(_) => 1,
            CliError::Usage(_) | CliError::Parse(_) | CliError::Eval(_) => 2,
            CliError::Connect(_) => 3,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Parse(rendered) => f.write_str(rendered),
            CliError::Usage(m) | CliError::Eval(m) | CliError::Connect(m) | CliError::Rpc(m) => {
                write!(f, "error: {m}")
            }
        }
    }
}
