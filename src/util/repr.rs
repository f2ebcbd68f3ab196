//! Redis's `sdscatrepr()`: bytes as a double-quoted string with C escapes, used wherever Redis
//! prints user bytes into a line of text (MONITOR, the AOF manifest).

/// Appends `bytes` quoted: `\\ \" \n \r \t \a \b` escaped, printable ASCII as is, the rest `\xHH`.
pub fn repr(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &c in bytes {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::repr;

    #[test]
    fn escapes_like_sdscatrepr() {
        let mut out = Vec::new();
        repr(&mut out, b"a b\"\\\n\r\t\x07\x08\x00\xff");
        assert_eq!(out, b"\"a b\\\"\\\\\\n\\r\\t\\a\\b\\x00\\xff\"".to_vec());
    }
}
