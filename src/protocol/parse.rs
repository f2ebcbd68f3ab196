//! Request parsing: RESP multibulk and inline commands, with Redis's limits and error texts.
//!
//! Behaves like `processMultibulkBuffer()` / `processInlineBuffer()` in Redis's
//! networking.c. The parser is resumable: a command that arrives over many reads is parsed
//! once, not again from its start on every read. Arguments are byte ranges into the
//! connection's read buffer (no copy, no allocation per argument); only inline commands with
//! quotes are unescaped into a scratch buffer.
//!
//! Invariant: nothing is allocated from a *declared* length. A client that announces a 4 GB
//! bulk and sends nothing costs only the bytes it actually sent.

use std::ops::Range;

/// Longest inline request, and longest header line, before Redis gives up (64 KiB).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;

/// COMPAT(issue): Redis 7.0.15 itself accepts counts up to INT_MAX; this project's spec caps
/// them at 1024*1024 with the same error Redis gives past its own limit.
pub const MAX_MULTIBULK_LEN: i64 = 1024 * 1024;

/// Limits that depend on configuration and on the client's state.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: i64,
    /// True while the client must still authenticate: Redis then refuses multibulks of more
    /// than 10 arguments and bulks of more than 16384 bytes.
    pub auth_required: bool,
}

/// A protocol violation. `reply()` is the exact text Redis sends before closing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    TooBigInline,
    UnbalancedQuotes,
    TooBigMbulkCount,
    InvalidMultibulkLength,
    UnauthenticatedMultibulkLength,
    TooBigBulkCount,
    ExpectedDollar(u8),
    InvalidBulkLength,
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The error line Redis replies with (without the leading `-`).
    pub fn reply(&self) -> String {
        let what = match self {
            ProtocolError::TooBigInline => "too big inline request".to_string(),
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in request".to_string(),
            ProtocolError::TooBigMbulkCount => "too big mbulk count string".to_string(),
            ProtocolError::InvalidMultibulkLength => "invalid multibulk length".to_string(),
            ProtocolError::UnauthenticatedMultibulkLength => {
                "unauthenticated multibulk length".to_string()
            }
            ProtocolError::TooBigBulkCount => "too big bulk count string".to_string(),
            ProtocolError::ExpectedDollar(c) => format!("expected '$', got '{}'", *c as char),
            ProtocolError::InvalidBulkLength => "invalid bulk length".to_string(),
            ProtocolError::UnauthenticatedBulkLength => "unauthenticated bulk length".to_string(),
        };
        format!("ERR Protocol error: {what}")
    }
}

/// The arguments of one command: ranges into a byte buffer.
#[derive(Clone, Copy)]
pub struct Argv<'a> {
    data: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Argv<'a> {
    pub fn new(data: &'a [u8], ranges: &'a [Range<usize>]) -> Self {
        Argv { data, ranges }
    }

    /// Number of arguments, the command name included.
    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i`. Panics when out of range: callers check arity first.
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.data[self.ranges[i].clone()]
    }

    /// Argument `i`, or `None` past the end.
    #[inline]
    pub fn try_get(&self, i: usize) -> Option<&'a [u8]> {
        self.ranges.get(i).map(|r| &self.data[r.clone()])
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let data = self.data;
        self.ranges.iter().map(move |r| &data[r.clone()])
    }
}

/// Arguments that own their bytes.
#[derive(Clone, Default, Debug)]
pub struct OwnedArgv {
    data: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

impl OwnedArgv {
    pub fn from_slices<'s>(args: impl IntoIterator<Item = &'s [u8]>) -> Self {
        let mut owned = OwnedArgv::default();
        for arg in args {
            owned.push(arg);
        }
        owned
    }

    pub fn push(&mut self, arg: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(arg);
        self.ranges.push(start..self.data.len());
    }

    pub fn argv(&self) -> Argv<'_> {
        Argv::new(&self.data, &self.ranges)
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// Where the parser is inside the command it is reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first byte of a command.
    Start,
    /// Inside a multibulk with this many bulks still to read.
    Bulks { remaining: usize },
    /// Inside a multibulk, waiting for the payload of a bulk of this length.
    Payload { remaining: usize, len: usize },
}

/// What one call to [`RequestParser::parse`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command of this many bytes; its arguments are in [`RequestParser::argv`].
    /// A command with no arguments (an empty line, `*0`) is reported too and must be skipped.
    Command(usize),
    /// More bytes are needed.
    Incomplete,
}

/// Resumable parser for one connection.
#[derive(Debug)]
pub struct RequestParser {
    state: State,
    /// Next unparsed byte, relative to the first byte of the current command.
    cursor: usize,
    /// Argument ranges of the current command, relative to its first byte (multibulk) or
    /// into `inline` (inline commands).
    ranges: Vec<Range<usize>>,
    /// Unescaped arguments of the current inline command.
    inline: Vec<u8>,
    is_inline: bool,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser {
            state: State::Start,
            cursor: 0,
            ranges: Vec::with_capacity(8),
            inline: Vec::new(),
            is_inline: false,
        }
    }
}

impl RequestParser {
    /// Parses the command that starts at `buf[0]`. After `Parsed::Command(n)` the caller runs
    /// the command with [`argv`](Self::argv), then drops `n` bytes and calls
    /// [`reset`](Self::reset).
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, ProtocolError> {
        if self.state == State::Start {
            let Some(&first) = buf.first() else {
                return Ok(Parsed::Incomplete);
            };
            if first != b'*' {
                return self.parse_inline(buf);
            }
            // 1. The multibulk header `*<count>\r\n`.
            let Some(cr) = memchr::memchr(b'\r', buf) else {
                if buf.len() > INLINE_MAX_SIZE {
                    return Err(ProtocolError::TooBigMbulkCount);
                }
                return Ok(Parsed::Incomplete);
            };
            if cr + 1 >= buf.len() {
                return Ok(Parsed::Incomplete);
            }
            let count = match parse_i64(&buf[1..cr]) {
                Some(n) if n <= MAX_MULTIBULK_LEN => n,
                _ => return Err(ProtocolError::InvalidMultibulkLength),
            };
            if count > 10 && limits.auth_required {
                return Err(ProtocolError::UnauthenticatedMultibulkLength);
            }
            self.cursor = cr + 2;
            self.is_inline = false;
            if count <= 0 {
                return Ok(Parsed::Command(self.cursor));
            }
            // Never trust the declared count for allocation.
            self.ranges.reserve((count as usize).min(1024));
            self.state = State::Bulks {
                remaining: count as usize,
            };
        }
        self.parse_bulks(buf, limits)
    }

    /// 2. Each bulk: `$<len>\r\n<payload>\r\n`.
    fn parse_bulks(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, ProtocolError> {
        loop {
            match self.state {
                State::Start => unreachable!("parse_bulks runs inside a multibulk"),
                State::Bulks { remaining: 0 } => {
                    self.state = State::Start;
                    return Ok(Parsed::Command(self.cursor));
                }
                State::Bulks { remaining } => {
                    let rest = &buf[self.cursor..];
                    let Some(cr) = memchr::memchr(b'\r', rest) else {
                        if rest.len() > INLINE_MAX_SIZE {
                            return Err(ProtocolError::TooBigBulkCount);
                        }
                        return Ok(Parsed::Incomplete);
                    };
                    if cr + 1 >= rest.len() {
                        return Ok(Parsed::Incomplete);
                    }
                    if rest[0] != b'$' {
                        return Err(ProtocolError::ExpectedDollar(rest[0]));
                    }
                    let len = match parse_i64(&rest[1..cr]) {
                        Some(n) if n >= 0 && n <= limits.max_bulk_len => n,
                        _ => return Err(ProtocolError::InvalidBulkLength),
                    };
                    if len > 16384 && limits.auth_required {
                        return Err(ProtocolError::UnauthenticatedBulkLength);
                    }
                    self.cursor += cr + 2;
                    self.state = State::Payload {
                        remaining,
                        len: len as usize,
                    };
                }
                State::Payload { remaining, len } => {
                    if buf.len() - self.cursor < len + 2 {
                        return Ok(Parsed::Incomplete);
                    }
                    // COMPAT(redis 7.0): the two bytes after the payload are skipped
                    // unchecked, as Redis does.
                    self.ranges.push(self.cursor..self.cursor + len);
                    self.cursor += len + 2;
                    self.state = State::Bulks {
                        remaining: remaining - 1,
                    };
                }
            }
        }
    }

    /// Inline command: one line, split like `sdssplitargs()`.
    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let Some(nl) = memchr::memchr(b'\n', buf) else {
            if buf.len() > INLINE_MAX_SIZE {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(Parsed::Incomplete);
        };
        let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        self.is_inline = true;
        self.inline.clear();
        self.ranges.clear();
        if !split_args(&buf[..line_end], &mut self.inline, &mut self.ranges) {
            return Err(ProtocolError::UnbalancedQuotes);
        }
        Ok(Parsed::Command(nl + 1))
    }

    /// The arguments of the command just parsed; `buf` is the buffer given to `parse`.
    pub fn argv<'a>(&'a self, buf: &'a [u8]) -> Argv<'a> {
        if self.is_inline {
            Argv::new(&self.inline, &self.ranges)
        } else {
            Argv::new(buf, &self.ranges)
        }
    }

    /// Forgets the command just run; the caller drops its bytes from the buffer.
    pub fn reset(&mut self) {
        self.state = State::Start;
        self.cursor = 0;
        self.ranges.clear();
        self.is_inline = false;
        if self.inline.capacity() > INLINE_MAX_SIZE {
            self.inline = Vec::new();
        }
        if self.ranges.capacity() > 4096 {
            self.ranges = Vec::with_capacity(8);
        }
    }

    /// Bytes of the current command already parsed (a hint for buffer sizing).
    pub fn pending_bulk(&self) -> Option<usize> {
        match self.state {
            State::Payload { len, .. } => Some(len),
            _ => None,
        }
    }
}

/// Redis's `string2ll()`: an optional `-`, digits, no leading zeros (except "0"), no `+`,
/// no spaces, within i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s.len() == 1 && s[0] == b'0' {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let (&first, _) = digits.split_first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits a line like Redis's `sdssplitargs()`: whitespace-separated words, `"..."` with C
/// escapes (`\n \r \t \b \a \\ \" \xHH`), `'...'` with only `\'`. A closing quote must be
/// followed by whitespace or the end of the line. Returns false on unbalanced quotes.
pub fn split_args(line: &[u8], out: &mut Vec<u8>, ranges: &mut Vec<Range<usize>>) -> bool {
    // COMPAT(redis 7.0): the C splitter sees a NUL byte as the end of the line.
    let line = &line[..memchr::memchr(0, line).unwrap_or(line.len())];
    let is_space = |c: u8| matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c);
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return true;
        }
        let start = out.len();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= line.len() {
                    return false;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < line.len()
                    && line[i + 1] == b'x'
                    && hex_digit(line[i + 2]).is_some()
                    && hex_digit(line[i + 3]).is_some()
                {
                    let hi = hex_digit(line[i + 2]).unwrap_or(0);
                    let lo = hex_digit(line[i + 3]).unwrap_or(0);
                    out.push(hi * 16 + lo);
                    i += 3;
                } else if c == b'\\' && i + 1 < line.len() {
                    i += 1;
                    out.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return false;
                    }
                    i += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else if in_sq {
                if i >= line.len() {
                    return false;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < line.len() && line[i + 1] == b'\'' {
                    i += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return false;
                    }
                    i += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else {
                if i >= line.len() {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => out.push(c),
                }
            }
            i += 1;
        }
        ranges.push(start..out.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        auth_required: false,
    };

    fn parse_all(buf: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::default();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            match p.parse(&buf[pos..], &LIMITS)? {
                Parsed::Command(n) => {
                    let argv = p.argv(&buf[pos..]);
                    out.push(argv.iter().map(|a| a.to_vec()).collect());
                    pos += n;
                    p.reset();
                }
                Parsed::Incomplete => break,
            }
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_inline() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\"\n").unwrap();
        assert_eq!(cmds[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(
            cmds[2],
            vec![b"set".to_vec(), b"a".to_vec(), b"b c".to_vec()]
        );
    }

    #[test]
    fn errors_match_redis_texts() {
        assert_eq!(
            parse_all(b"*x\r\n").unwrap_err().reply(),
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n").unwrap_err().reply(),
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n:5\r\n").unwrap_err().reply(),
            "ERR Protocol error: expected '$', got ':'"
        );
        assert_eq!(
            parse_all(b"set a \"b\n").unwrap_err().reply(),
            "ERR Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            parse_all(b"*1048577\r\n").unwrap_err(),
            ProtocolError::InvalidMultibulkLength
        );
        assert_eq!(
            parse_all(&vec![b'a'; INLINE_MAX_SIZE + 1]).unwrap_err(),
            ProtocolError::TooBigInline
        );
    }

    #[test]
    fn declared_lengths_allocate_nothing() {
        let mut p = RequestParser::default();
        let buf = b"*1\r\n$536870912\r\n";
        assert_eq!(p.parse(buf, &LIMITS), Ok(Parsed::Incomplete));
        assert!(p.ranges.capacity() < 64);
        assert_eq!(p.pending_bulk(), Some(536870912));
    }

    #[test]
    fn unauthenticated_limits() {
        let limits = Limits {
            auth_required: true,
            ..LIMITS
        };
        let mut p = RequestParser::default();
        assert_eq!(
            p.parse(b"*11\r\n", &limits),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        let mut p = RequestParser::default();
        assert_eq!(
            p.parse(b"*1\r\n$16385\r\n", &limits),
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
    }

    #[test]
    fn split_args_like_sdssplitargs() {
        let mut out = Vec::new();
        let mut r = Vec::new();
        assert!(split_args(br#"a "\x41\n" 'it\'s'"#, &mut out, &mut r));
        let args: Vec<&[u8]> = r.iter().map(|x| &out[x.clone()]).collect();
        assert_eq!(args, vec![&b"a"[..], b"A\n", b"it's"]);
        assert!(!split_args(br#""a"b"#, &mut Vec::new(), &mut Vec::new()));
        assert!(!split_args(b"'abc", &mut Vec::new(), &mut Vec::new()));
        let (mut out, mut r) = (Vec::new(), Vec::new());
        assert!(split_args(b"a\0b c", &mut out, &mut r));
        assert_eq!(r.len(), 1, "a NUL ends the line");
    }

    #[test]
    fn parse_i64_is_strict() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [&b"01"[..], b"+1", b" 1", b"", b"-", b"-0", b"1a"] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }

    proptest! {
        /// Any split of a pipelined stream into reads parses to the same commands.
        #[test]
        fn split_points_do_not_matter(args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6), cut in 0usize..400) {
            let mut wire = Vec::new();
            wire.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in &args {
                wire.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                wire.extend_from_slice(a);
                wire.extend_from_slice(b"\r\n");
            }
            let cut = cut.min(wire.len());
            let mut p = RequestParser::default();
            let first = p.parse(&wire[..cut], &LIMITS).unwrap();
            let done = if cut < wire.len() {
                prop_assert_eq!(first, Parsed::Incomplete);
                p.parse(&wire, &LIMITS).unwrap()
            } else {
                first
            };
            prop_assert_eq!(done, Parsed::Command(wire.len()));
            let got: Vec<Vec<u8>> = p.argv(&wire).iter().map(|a| a.to_vec()).collect();
            prop_assert_eq!(got, args);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut p = RequestParser::default();
            let mut pos = 0;
            for _ in 0..400 {
                match p.parse(&bytes[pos..], &LIMITS) {
                    Ok(Parsed::Command(n)) => { pos += n; p.reset(); if pos >= bytes.len() { break; } }
                    _ => break,
                }
            }
        }
    }
}
