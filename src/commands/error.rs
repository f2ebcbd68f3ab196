//! Client-visible errors. `Display` is Redis 7.0's exact text, code first; it becomes a
//! `-...\r\n` reply only at the edge, where INFO errorstats also counts it by its code.

use std::fmt;

/// An error a command replies with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    WrongType,
    Syntax,
    NotInteger,
    NotFloat,
    NoSuchKey,
    OutOfRange,
    Overflow,
    DbIndexOutOfRange,
    BitOffset,
    BitValue,
    StringTooLong,
    NoAuth,
    WrongPass,
    /// `wrong number of arguments for '<name>' command`.
    Arity(String),
    /// `invalid expire time in '<name>' command`.
    InvalidExpire(String),
    /// `unknown subcommand '<sub>'. Try <CMD> HELP.`
    UnknownSubcommand {
        sub: String,
        cmd: String,
    },
    /// Any other error; the text starts with its code (`ERR ...`).
    Raw(String),
}

impl CmdError {
    /// An `ERR` error with this message.
    pub fn err(msg: impl fmt::Display) -> Self {
        CmdError::Raw(format!("ERR {msg}"))
    }

    /// The error code, as INFO errorstats counts it: the first word when a space appears
    /// within the first 32 bytes, else `ERR` (behaves like `afterErrorReply()`).
    pub fn code(text: &str) -> &str {
        match text.bytes().take(32).position(|b| b == b' ') {
            // The space is ASCII, so `i` is a character boundary.
            Some(i) => &text[..i],
            None => "ERR",
        }
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::WrongType => {
                f.write_str("WRONGTYPE Operation against a key holding the wrong kind of value")
            }
            CmdError::Syntax => f.write_str("ERR syntax error"),
            CmdError::NotInteger => f.write_str("ERR value is not an integer or out of range"),
            CmdError::NotFloat => f.write_str("ERR value is not a valid float"),
            CmdError::NoSuchKey => f.write_str("ERR no such key"),
            CmdError::OutOfRange => f.write_str("ERR index out of range"),
            CmdError::Overflow => f.write_str("ERR increment or decrement would overflow"),
            CmdError::DbIndexOutOfRange => f.write_str("ERR DB index is out of range"),
            CmdError::BitOffset => f.write_str("ERR bit offset is not an integer or out of range"),
            CmdError::BitValue => f.write_str("ERR bit is not an integer or out of range"),
            CmdError::StringTooLong => {
                f.write_str("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
            }
            CmdError::NoAuth => f.write_str("NOAUTH Authentication required."),
            CmdError::WrongPass => {
                f.write_str("WRONGPASS invalid username-password pair or user is disabled.")
            }
            CmdError::Arity(name) => {
                write!(f, "ERR wrong number of arguments for '{name}' command")
            }
            CmdError::InvalidExpire(name) => {
                write!(f, "ERR invalid expire time in '{name}' command")
            }
            CmdError::UnknownSubcommand { sub, cmd } => {
                write!(f, "ERR unknown subcommand '{sub}'. Try {cmd} HELP.")
            }
            CmdError::Raw(text) => f.write_str(text),
        }
    }
}

/// The result of a command handler: the reply was written, or this error is the reply.
pub type CmdResult = Result<(), CmdError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(
            CmdError::code(&CmdError::WrongType.to_string()),
            "WRONGTYPE"
        );
        assert_eq!(CmdError::code(&CmdError::Syntax.to_string()), "ERR");
        assert_eq!(CmdError::code("NOSPACE"), "ERR");
        // Multi-byte characters around the 32-byte limit must not split.
        assert_eq!(
            CmdError::code("ERR unknown command 'привет привет привет'"),
            "ERR"
        );
        assert_eq!(CmdError::code(&"é".repeat(40)), "ERR");
    }
}
