//! The reply writer: RESP2 and RESP3 encodings into a connection's output buffer.
//!
//! Each method writes one reply element the way Redis's `addReply*()` family does for the
//! client's protocol version: a map is `%n` in RESP3 and `*2n` in RESP2, a null is `_` or
//! `$-1`, a double is `,` or a bulk string of `%.17g`, and so on.

use super::float::format_double;

/// Output buffer of one client plus its protocol version.
#[derive(Debug)]
pub struct Reply {
    pub buf: Vec<u8>,
    /// 2 or 3, as chosen by HELLO.
    pub resp: u8,
}

/// A length written before its elements were counted; see [`Reply::begin_deferred`].
#[must_use]
pub struct Deferred {
    at: usize,
}

/// The aggregate kind of a deferred length.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Array,
    Map,
    Set,
}

impl Reply {
    pub fn new(resp: u8) -> Self {
        Reply {
            buf: Vec::with_capacity(16 * 1024),
            resp,
        }
    }

    #[inline]
    pub fn is_resp3(&self) -> bool {
        self.resp >= 3
    }

    #[inline]
    fn header(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK`.
    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A status line (`+text`). The text must not hold CR or LF.
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error line. `msg` starts with its code (`ERR ...`, `WRONGTYPE ...`); CR and LF are
    /// replaced by spaces so the protocol stays well formed.
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }

    /// An error line from raw bytes (client arguments echoed as sent).
    pub fn error_bytes(&mut self, msg: &[u8]) {
        self.buf.push(b'-');
        self.buf.extend(
            msg.iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding the decimal form of `n` (Redis's `addReplyBulkLongLong`).
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// The null array: `*-1` in RESP2 (EXEC aborted by WATCH, a blocking pop timing out).
    pub fn null_array(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    /// Null bulk in RESP2 (`$-1`), null in RESP3 (`_`).
    #[inline]
    pub fn null(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs: `%n` in RESP3, a flat array of `2n` in RESP2.
    pub fn map(&mut self, n: usize) {
        if self.is_resp3() {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A list of `n` elements that are pairs when `pairs` is set (member and score, field and
    /// value): an array of 2-element arrays in RESP3, one flat array of `2n` in RESP2.
    pub fn pair_list(&mut self, n: usize, pairs: bool) {
        if pairs && !self.is_resp3() {
            self.array(2 * n);
        } else {
            self.array(n);
        }
    }

    /// A set: `~n` in RESP3, an array in RESP2.
    pub fn set(&mut self, n: usize) {
        if self.is_resp3() {
            self.header(b'~', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// An out-of-band push: `>n` in RESP3, an array in RESP2.
    pub fn push(&mut self, n: usize) {
        if self.is_resp3() {
            self.header(b'>', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// A double as Redis prints it: `%.17g`, `inf`, `-inf`.
    pub fn double(&mut self, d: f64) {
        let mut tmp = [0u8; 40];
        let text = format_double(d, &mut tmp);
        if self.is_resp3() {
            self.buf.push(b',');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn bool(&mut self, b: bool) {
        match (self.is_resp3(), b) {
            (true, true) => self.buf.extend_from_slice(b"#t\r\n"),
            (true, false) => self.buf.extend_from_slice(b"#f\r\n"),
            (false, true) => self.buf.extend_from_slice(b":1\r\n"),
            (false, false) => self.buf.extend_from_slice(b":0\r\n"),
        }
    }

    /// Verbatim text (`=len\r\ntxt:...`) in RESP3, a bulk string in RESP2.
    pub fn verbatim(&mut self, text: &[u8], ext: &str) {
        if !self.is_resp3() {
            return self.bulk(text);
        }
        self.header(b'=', text.len() as i64 + 4);
        let mut e = [b' '; 3];
        for (dst, src) in e.iter_mut().zip(ext.bytes()) {
            *dst = src;
        }
        self.buf.extend_from_slice(&e);
        self.buf.push(b':');
        self.buf.extend_from_slice(text);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Raw, already encoded protocol.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Starts an aggregate whose length is known only after its elements are written.
    pub fn begin_deferred(&mut self) -> Deferred {
        Deferred { at: self.buf.len() }
    }

    /// Inserts the header of a deferred aggregate of `n` elements (pairs for a map).
    pub fn end_deferred(&mut self, d: Deferred, kind: Aggregate, n: usize) {
        let (prefix, count) = match (kind, self.is_resp3()) {
            (Aggregate::Array, _) => (b'*', n),
            (Aggregate::Map, true) => (b'%', n),
            (Aggregate::Map, false) => (b'*', 2 * n),
            (Aggregate::Set, true) => (b'~', n),
            (Aggregate::Set, false) => (b'*', n),
        };
        let mut header = Vec::with_capacity(24);
        header.push(prefix);
        header.extend_from_slice(itoa::Buffer::new().format(count).as_bytes());
        header.extend_from_slice(b"\r\n");
        self.buf.splice(d.at..d.at, header);
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_shapes() {
        let mut r2 = Reply::new(2);
        let mut r3 = Reply::new(3);
        for r in [&mut r2, &mut r3] {
            r.map(1);
            r.bulk(b"a");
            r.double(1.5);
            r.null();
            r.bool(true);
        }
        assert_eq!(r2.buf, b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n$-1\r\n:1\r\n");
        assert_eq!(r3.buf, b"%1\r\n$1\r\na\r\n,1.5\r\n_\r\n#t\r\n");
    }

    #[test]
    fn deferred_headers_are_inserted() {
        let mut r = Reply::new(2);
        r.int(7);
        let d = r.begin_deferred();
        r.bulk(b"x");
        r.end_deferred(d, Aggregate::Map, 1);
        assert_eq!(r.buf, b":7\r\n*2\r\n$1\r\nx\r\n");
    }

    #[test]
    fn errors_lose_newlines() {
        let mut r = Reply::new(2);
        r.error("ERR a\r\nb");
        assert_eq!(r.buf, b"-ERR a  b\r\n");
    }

    #[test]
    fn verbatim_in_resp3() {
        let mut r = Reply::new(3);
        r.verbatim(b"hi", "txt");
        assert_eq!(r.buf, b"=6\r\ntxt:hi\r\n");
    }
}
