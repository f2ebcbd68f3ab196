//! Reading the commands of an AOF file (behaves like the parsing in Redis 7.0's
//! `loadSingleAppendOnlyFile()`): `#` annotation lines are skipped; every record is a RESP
//! multibulk. A record cut short by the end of the file is reported with the offset where
//! it began, so the caller can truncate there (`aof-load-truncated`).

use std::io::{BufRead, Read};

/// Longest count or length line accepted (Redis reads them into a 1024-byte buffer).
const MAX_LINE: usize = 1024;

/// Why reading stopped early.
#[derive(Debug)]
pub enum AofReadError {
    /// Not the AOF format, at this offset.
    Format(u64),
    /// The file ends inside the record that starts at this offset.
    Truncated(u64),
    Io(std::io::Error),
}

/// Reads commands one by one, tracking the offset.
pub struct CommandReader<R> {
    input: R,
    offset: u64,
}

impl<R: BufRead> CommandReader<R> {
    /// `offset`: where `input` starts in the file (after an RDB preamble, say).
    pub fn new(input: R, offset: u64) -> Self {
        CommandReader { input, offset }
    }

    /// Where the next record starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next command; `Ok(None)` at a clean end of the file.
    pub fn next_command(&mut self) -> Result<Option<Vec<Vec<u8>>>, AofReadError> {
        loop {
            let start = self.offset;
            let Some(line) = self.line(start)? else {
                return Ok(None);
            };
            match line.first() {
                Some(b'#') => continue,
                Some(b'*') => {}
                _ => return Err(AofReadError::Format(start)),
            }
            let argc = number(&line[1..])
                .filter(|&n| n >= 1)
                .ok_or(AofReadError::Format(start))?;
            let mut argv = Vec::with_capacity(argc.min(1024) as usize);
            for _ in 0..argc {
                let line = self.line(start)?.ok_or(AofReadError::Truncated(start))?;
                if line.first() != Some(&b'$') {
                    return Err(AofReadError::Format(start));
                }
                let len = number(&line[1..]).ok_or(AofReadError::Format(start))?;
                let mut arg = Vec::with_capacity(len.min(1 << 20) as usize);
                let got = (&mut self.input)
                    .take(len)
                    .read_to_end(&mut arg)
                    .map_err(AofReadError::Io)?;
                let mut crlf = [0u8; 2];
                if got as u64 != len || self.input.read_exact(&mut crlf).is_err() {
                    return Err(AofReadError::Truncated(start));
                }
                self.offset += len + 2;
                argv.push(arg);
            }
            return Ok(Some(argv));
        }
    }

    /// One line without its CRLF; `None` at the end of the file before any byte of it.
    fn line(&mut self, record_start: u64) -> Result<Option<Vec<u8>>, AofReadError> {
        let mut line = Vec::new();
        let n = (&mut self.input)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .map_err(AofReadError::Io)?;
        if n == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') {
            return Err(if n >= MAX_LINE {
                AofReadError::Format(record_start)
            } else {
                AofReadError::Truncated(record_start)
            });
        }
        self.offset += n as u64;
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }
}

/// A decimal count or length (`strtol` accepts a sign; negative ones are refused here).
fn number(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits).ok()?.trim().parse::<u64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::aof::encode::command;

    fn read_all(bytes: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<AofReadError>) {
        let mut r = CommandReader::new(bytes, 0);
        let mut out = Vec::new();
        loop {
            match r.next_command() {
                Ok(Some(c)) => out.push(c),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn reads_commands_and_annotations() {
        let mut bytes = b"#TS:1700000000\r\n".to_vec();
        command(&mut bytes, &[b"SET", b"k", b"a\r\nb"]);
        command(&mut bytes, &[b"DEL", b"k"]);
        let (cmds, err) = read_all(&bytes);
        assert!(err.is_none());
        assert_eq!(
            cmds,
            vec![
                vec![b"SET".to_vec(), b"k".to_vec(), b"a\r\nb".to_vec()],
                vec![b"DEL".to_vec(), b"k".to_vec()]
            ]
        );
    }

    #[test]
    fn truncation_points_at_the_start_of_the_cut_record() {
        let mut bytes = Vec::new();
        command(&mut bytes, &[b"SET", b"k", b"v"]);
        let whole = bytes.len() as u64;
        command(&mut bytes, &[b"SET", b"k2", b"value"]);
        for cut in whole as usize + 1..bytes.len() {
            let (cmds, err) = read_all(&bytes[..cut]);
            assert_eq!(cmds.len(), 1, "cut at {cut}");
            assert!(
                matches!(err, Some(AofReadError::Truncated(at)) if at == whole),
                "cut at {cut}: {err:?}"
            );
        }
        assert!(matches!(
            read_all(b"+OK\r\n").1,
            Some(AofReadError::Format(0))
        ));
        assert!(matches!(
            read_all(b"*1\r\n:1\r\n").1,
            Some(AofReadError::Format(0))
        ));
        assert!(matches!(
            read_all(b"*0\r\n").1,
            Some(AofReadError::Format(0))
        ));
    }
}
