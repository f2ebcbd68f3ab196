//! Propagated batches as AOF bytes (behaves like `feedAppendOnlyFile()` and the
//! MULTI/EXEC rule of `propagatePendingCommands()`): each command a RESP multibulk, led by a
//! SELECT when its database differs from the last one written to this file; a batch of
//! several ops wrapped in MULTI / EXEC unless it asks not to be.

use crate::keyspace::{Batch, PropOp};

/// Encodes batches for one file.
#[derive(Default)]
pub struct Encoder {
    /// The database the file's reader has selected; `None` at the start of a file.
    selected: Option<usize>,
    /// The second of the last `#TS:` annotation (`aof-timestamp-enabled`).
    stamped_secs: i64,
}

impl Encoder {
    /// For a new file: its first command will be led by a SELECT (and a timestamp).
    pub fn new_file(&mut self) {
        self.selected = None;
        // Each file starts with its own timestamp, so it can be truncated at one alone.
        self.stamped_secs = 0;
    }

    /// With `aof-timestamp-enabled`, a `#TS:<unix seconds>` line once per second of
    /// writes, which redis-check-aof can truncate at (behaves like
    /// `genAofTimestampAnnotationIfNeeded()`).
    pub fn timestamp(&mut self, now_secs: i64, out: &mut Vec<u8>) {
        if now_secs > self.stamped_secs {
            self.stamped_secs = now_secs;
            out.extend_from_slice(format!("#TS:{now_secs}\r\n").as_bytes());
        }
    }

    pub fn batch(&mut self, batch: &Batch, out: &mut Vec<u8>) {
        let wrap = batch.ops.len() > 1 && !batch.no_multi;
        if wrap {
            self.select(batch.ops[0].db, out);
            command(out, &[b"MULTI"]);
        }
        for op in &batch.ops {
            self.op(op, out);
        }
        if wrap {
            command(out, &[b"EXEC"]);
        }
    }

    fn op(&mut self, op: &PropOp, out: &mut Vec<u8>) {
        self.select(op.db, out);
        command_of(out, op.argv.len(), op.argv.iter().map(|a| a.as_slice()));
    }

    fn select(&mut self, db: usize, out: &mut Vec<u8>) {
        if self.selected != Some(db) {
            let mut n = itoa::Buffer::new();
            command(out, &[b"SELECT", n.format(db).as_bytes()]);
            self.selected = Some(db);
        }
    }
}

/// One command as a RESP multibulk.
pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    command_of(out, args.len(), args.iter().copied());
}

/// [`command`] for `argc` arguments from an iterator (no slice of them built first: the
/// propagation stream encodes every write this way).
pub fn command_of<'a>(out: &mut Vec<u8>, argc: usize, args: impl Iterator<Item = &'a [u8]>) {
    let mut num = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(num.format(argc).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(num.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).replace("\r\n", " ")
    }

    #[test]
    fn selects_once_per_database_and_wraps_several_ops() {
        let mut e = Encoder::default();
        let mut out = Vec::new();
        let one = Batch {
            stamp: 1,
            ops: vec![PropOp::new(0, &[b"SET", b"k", b"v"])],
            no_multi: false,
        };
        e.batch(&one, &mut out);
        e.batch(&one, &mut out);
        assert_eq!(
            text(&out),
            "*2 $6 SELECT $1 0 *3 $3 SET $1 k $1 v *3 $3 SET $1 k $1 v "
        );
        out.clear();
        let two = Batch {
            stamp: 2,
            ops: vec![
                PropOp::new(0, &[b"DEL", b"a"]),
                PropOp::new(3, &[b"INCR", b"b"]),
            ],
            no_multi: false,
        };
        e.batch(&two, &mut out);
        assert_eq!(
            text(&out),
            "*1 $5 MULTI *2 $3 DEL $1 a *2 $6 SELECT $1 3 *2 $4 INCR $1 b *1 $4 EXEC "
        );
        out.clear();
        let apart = Batch {
            no_multi: true,
            ..two
        };
        e.new_file();
        e.batch(&apart, &mut out);
        assert_eq!(
            text(&out),
            "*2 $6 SELECT $1 0 *2 $3 DEL $1 a *2 $6 SELECT $1 3 *2 $4 INCR $1 b "
        );
    }
}
