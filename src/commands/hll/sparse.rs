//! The sparse HLL encoding: the registers in order as run-length opcodes (behaves like
//! Redis's `HLL_SPARSE_*` macros, `hllSparseSet()` and the sparse halves of `hllMerge()`,
//! `hllSparseToDense()` and `hllSparseRegHisto()`).
//!
//! ```text
//! ZERO   00xxxxxx            xxxxxx + 1 registers (1..=64) at 0
//! XZERO  01xxxxxx yyyyyyyy   xxxxxxyyyyyyyy + 1 registers (1..=16384) at 0
//! VAL    1vvvvvxx            xx + 1 registers (1..=4) at vvvvv + 1 (1..=32)
//! ```
//!
//! The opcodes are edited in place, and adjacent runs are joined only near the edit, so
//! the bytes depend on the order of the adds, as in Redis; reproducing them byte for byte
//! takes the same edits, not just the same registers.

use super::value::{Corrupt, REGISTERS};

/// Largest value a VAL opcode holds; a larger register turns the HLL dense.
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;

/// How far after the edit [`join_vals`] looks, in opcodes.
const JOIN_SCAN: usize = 5;

/// One opcode, with its run length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    /// The opcode at `at` (< `bytes.len()`). COMPAT(redis 7.0): an XZERO cut short by the
    /// end of the string reads its second byte as 0, the string's terminator in Redis.
    fn read(bytes: &[u8], at: usize) -> Op {
        let b = bytes[at];
        let low6 = usize::from(b & 0x3f);
        match b >> 6 {
            0 => Op::Zero(low6 + 1),
            1 => Op::XZero((low6 << 8 | usize::from(bytes.get(at + 1).copied().unwrap_or(0))) + 1),
            _ => Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 0x03) + 1),
        }
    }

    /// A run of `len` zero registers in the shorter opcode that holds it.
    fn zeros(len: usize) -> Op {
        if len > ZERO_MAX_LEN {
            Op::XZero(len)
        } else {
            Op::Zero(len)
        }
    }

    /// Bytes taken by the opcode.
    fn width(self) -> usize {
        match self {
            Op::XZero(_) => 2,
            _ => 1,
        }
    }

    /// Registers covered.
    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    /// Appends the encoded opcode; the run length must fit the opcode.
    fn write(self, out: &mut Seq) {
        match self {
            Op::Zero(n) => out.push((n - 1) as u8),
            Op::XZero(n) => {
                let [hi, lo] = ((n - 1) as u16).to_be_bytes();
                out.push(0x40 | hi);
                out.push(lo);
            }
            Op::Val(v, n) => out.push(val_byte(v, n)),
        }
    }
}

/// The VAL opcode byte for `len` registers at `value`.
fn val_byte(value: u8, len: usize) -> u8 {
    0x80 | (value - 1) << 2 | (len - 1) as u8
}

/// The up-to-5-byte opcode sequence that replaces one opcode in an edit.
struct Seq {
    bytes: [u8; 5],
    len: usize,
}

impl Seq {
    fn push(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Appends the opcodes of an all-zero register set: XZERO runs of at most 16384.
pub fn push_empty(out: &mut Vec<u8>) {
    let mut seq = Seq {
        bytes: [0; 5],
        len: 0,
    };
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(XZERO_MAX_LEN);
        Op::XZero(run).write(&mut seq);
        out.extend_from_slice(seq.as_slice());
        seq.len = 0;
        left -= run;
    }
}

/// Calls `f(first, value, len)` for each run of non-zero registers, in order; fails
/// unless the opcodes cover exactly the 16384 registers. A run past the last register is
/// never passed to `f`.
pub fn for_each_run(body: &[u8], mut f: impl FnMut(usize, u8, usize)) -> Result<(), Corrupt> {
    let (mut at, mut first) = (0, 0);
    while at < body.len() {
        let op = Op::read(body, at);
        if let Op::Val(value, len) = op {
            if first + len > REGISTERS {
                return Err(Corrupt);
            }
            f(first, value, len);
        }
        first += op.span();
        at += op.width();
    }
    if first == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// What [`raise`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    Unchanged,
    Changed,
    /// Nothing changed: the value does not fit a VAL opcode, or the string would grow
    /// past its limit. The caller converts to dense and sets the register there.
    NeedsDense,
}

/// Where the search for the opcode covering a register starts: an opcode boundary, the
/// register its opcode starts at, and the opcode before it.
///
/// An edit changes nothing before the opcode preceding the edited one, and that opcode
/// still starts at the same register, so raises in increasing register order (PFMERGE)
/// resume from there instead of from the start of the body.
#[derive(Clone, Copy, Debug)]
pub struct Cursor {
    body_at: usize,
    at: usize,
    first: usize,
    prev: Option<usize>,
}

impl Cursor {
    /// The start of a body at `body_at`.
    pub fn start(body_at: usize) -> Cursor {
        Cursor {
            body_at,
            at: body_at,
            first: 0,
            prev: None,
        }
    }
}

/// Raises register `index` to `value` if it is lower, editing the opcodes of `hll`
/// (behaves like `hllSparseSet()` without its promotion). `cursor` must be at or before
/// the opcode covering `index`; it is left where the next, higher register may resume.
///
/// 1. Find the opcode covering `index` (corrupt if none does).
/// 2. A VAL already at least `value`: nothing to do. A VAL or ZERO of one register: the
///    byte becomes VAL(value, 1).
/// 3. Otherwise split the opcode around `index` into up to three opcodes (the run before,
///    VAL(value, 1), the run after) and splice them in; if that grows the string past
///    `max_bytes`, the HLL must turn dense instead.
/// 4. Join VAL opcodes of equal value from the opcode before the edit ([`join_vals`]).
pub fn raise(
    hll: &mut Vec<u8>,
    cursor: &mut Cursor,
    index: usize,
    value: u8,
    max_bytes: usize,
) -> Result<Raised, Corrupt> {
    if value > VAL_MAX_VALUE {
        return Ok(Raised::NeedsDense);
    }
    // 1.
    let Cursor {
        mut at,
        mut first,
        mut prev,
        ..
    } = *cursor;
    let mut resume = Cursor::start(cursor.body_at);
    let op = loop {
        if at >= hll.len() {
            return Err(Corrupt);
        }
        let op = Op::read(hll, at);
        if index < first + op.span() {
            break op;
        }
        resume = Cursor {
            at,
            first,
            prev,
            ..resume
        };
        prev = Some(at);
        at += op.width();
        first += op.span();
    };
    *cursor = resume;
    // 2.
    match op {
        Op::Val(old, _) if old >= value => return Ok(Raised::Unchanged),
        Op::Val(_, 1) | Op::Zero(1) => hll[at] = val_byte(value, 1),
        // 3.
        _ => {
            let seq = split(op, first, index, value);
            let old_len = hll.len();
            let new_len = old_len + seq.len - op.width();
            if new_len > old_len && new_len > max_bytes {
                return Ok(Raised::NeedsDense);
            }
            hll.splice(
                at..(at + op.width()).min(old_len),
                seq.as_slice().iter().copied(),
            );
            // A cut-short XZERO (see `Op::read`) loses the sequence's last byte, as in
            // Redis, whose length moves by the opcodes' difference.
            hll.truncate(new_len);
        }
    }
    // 4. Without an opcode before, the edited one is the first.
    join_vals(hll, prev.unwrap_or(at));
    Ok(Raised::Changed)
}

/// The opcodes replacing `op` (covering registers from `first`) once register `index`
/// is at `value`.
fn split(op: Op, first: usize, index: usize, value: u8) -> Seq {
    let last = first + op.span() - 1;
    let run = |len: usize| match op {
        Op::Val(old, _) => Op::Val(old, len),
        _ => Op::zeros(len),
    };
    let mut seq = Seq {
        bytes: [0; 5],
        len: 0,
    };
    if index > first {
        run(index - first).write(&mut seq);
    }
    Op::Val(value, 1).write(&mut seq);
    if index < last {
        run(last - index).write(&mut seq);
    }
    seq
}

/// Joins adjacent VAL opcodes of equal value whose runs fit one opcode, over at most
/// [`JOIN_SCAN`] steps from the opcode at `from` (a join is a step). Only the
/// neighbourhood of an edit is tidied: the encoding is not canonical.
fn join_vals(hll: &mut Vec<u8>, from: usize) {
    let mut at = from;
    for _ in 0..JOIN_SCAN {
        if at >= hll.len() {
            return;
        }
        let op = Op::read(hll, at);
        if let Op::Val(value, len) = op
            && at + 1 < hll.len()
            && let Op::Val(next_value, next_len) = Op::read(hll, at + 1)
            && next_value == value
            && len + next_len <= VAL_MAX_LEN
        {
            hll[at + 1] = val_byte(value, len + next_len);
            hll.remove(at);
            continue;
        }
        at += op.width();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn empty() -> Vec<u8> {
        let mut v = Vec::new();
        push_empty(&mut v);
        v
    }

    fn ops(body: &[u8]) -> Vec<Op> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < body.len() {
            let op = Op::read(body, at);
            out.push(op);
            at += op.width();
        }
        out
    }

    fn registers(body: &[u8]) -> Vec<u8> {
        let mut regs = vec![0u8; REGISTERS];
        for_each_run(body, |first, value, len| {
            regs[first..first + len].fill(value);
        })
        .expect("valid");
        regs
    }

    #[test]
    fn opcodes_round_trip() {
        let all = (1..=64)
            .map(Op::Zero)
            .chain([1, 65, 300, 16384].map(Op::XZero))
            .chain((1..=32).flat_map(|v| (1..=4).map(move |n| Op::Val(v, n))));
        for op in all {
            let mut seq = Seq {
                bytes: [0; 5],
                len: 0,
            };
            op.write(&mut seq);
            assert_eq!(seq.len, op.width());
            assert_eq!(Op::read(seq.as_slice(), 0), op);
        }
    }

    /// Redis's own example: registers 1000, 1020 and 1021 at 2, 3 and 3.
    #[test]
    fn documented_example() {
        let mut v = empty();
        assert_eq!(v, [0x7f, 0xff]);
        for (index, value) in [(1000, 2), (1020, 3), (1021, 3)] {
            assert_eq!(
                raise(&mut v, &mut Cursor::start(0), index, value, 3000),
                Ok(Raised::Changed)
            );
        }
        assert_eq!(
            ops(&v),
            [
                Op::XZero(1000),
                Op::Val(2, 1),
                Op::Zero(19),
                Op::Val(3, 2),
                Op::XZero(15362)
            ]
        );
        assert_eq!(
            raise(&mut v, &mut Cursor::start(0), 1021, 3, 3000),
            Ok(Raised::Unchanged)
        );
        assert_eq!(
            raise(&mut v, &mut Cursor::start(0), 1021, 2, 3000),
            Ok(Raised::Unchanged)
        );
    }

    #[test]
    fn edits_agree_with_a_model() {
        let mut rng = StdRng::seed_from_u64(11);
        for round in 0..20 {
            let mut v = empty();
            let mut model = vec![0u8; REGISTERS];
            // Clustered indexes exercise VAL splits and joins, spread ones XZERO splits.
            let spread = if round % 2 == 0 { 64 } else { REGISTERS };
            for _ in 0..400 {
                let index = rng.random_range(0..spread);
                let value = rng.random_range(1..=VAL_MAX_VALUE);
                let want = if value > model[index] {
                    model[index] = value;
                    Raised::Changed
                } else {
                    Raised::Unchanged
                };
                assert_eq!(
                    raise(&mut v, &mut Cursor::start(0), index, value, usize::MAX),
                    Ok(want)
                );
            }
            assert_eq!(registers(&v), model);
            assert!(ops(&v).iter().all(|op| match *op {
                Op::Zero(n) => n <= ZERO_MAX_LEN,
                Op::Val(_, n) => n <= VAL_MAX_LEN,
                Op::XZero(n) => n <= XZERO_MAX_LEN,
            }));
        }
    }

    /// Ascending raises resuming from a carried cursor edit exactly like raises that
    /// search from the start (which is what Redis does).
    #[test]
    fn a_carried_cursor_edits_like_a_fresh_one() {
        let mut rng = StdRng::seed_from_u64(5);
        for round in 0..40 {
            let spread = if round % 2 == 0 { 200 } else { REGISTERS };
            let mut base = empty();
            for _ in 0..150 {
                let (index, value) = (rng.random_range(0..spread), rng.random_range(1..=8));
                raise(&mut base, &mut Cursor::start(0), index, value, usize::MAX).unwrap();
            }
            let mut targets: Vec<(usize, u8)> = (0..300)
                .map(|_| (rng.random_range(0..spread), rng.random_range(1..=8)))
                .collect();
            targets.sort_unstable_by_key(|t| t.0);
            targets.dedup_by_key(|t| t.0);
            let (mut carried, mut fresh) = (base.clone(), base);
            let mut cursor = Cursor::start(0);
            for (index, value) in targets {
                let a = raise(&mut carried, &mut cursor, index, value, usize::MAX);
                let b = raise(&mut fresh, &mut Cursor::start(0), index, value, usize::MAX);
                assert_eq!(a, b);
                assert_eq!(carried, fresh, "round {round}, register {index}");
            }
        }
    }

    #[test]
    fn growth_past_the_limit_asks_for_dense() {
        let mut v = empty();
        assert_eq!(
            raise(&mut v, &mut Cursor::start(0), 100, 1, 2),
            Ok(Raised::NeedsDense)
        );
        assert_eq!(v, empty());
        assert_eq!(
            raise(&mut v, &mut Cursor::start(0), 100, 33, usize::MAX),
            Ok(Raised::NeedsDense)
        );
        // An edit in place needs no room.
        assert_eq!(
            raise(&mut v, &mut Cursor::start(0), 0, 1, usize::MAX),
            Ok(Raised::Changed)
        );
        let len = v.len();
        assert_eq!(
            raise(&mut v, &mut Cursor::start(0), 0, 5, len),
            Ok(Raised::Changed)
        );
        assert_eq!(v.len(), len);
    }

    #[test]
    fn corrupt_bodies() {
        assert_eq!(for_each_run(&[], |_, _, _| {}), Err(Corrupt));
        // One register short, one too many.
        assert_eq!(for_each_run(&[0x7f, 0xfe], |_, _, _| {}), Err(Corrupt));
        assert_eq!(
            for_each_run(&[0x7f, 0xff, 0x80], |_, _, _| {}),
            Err(Corrupt)
        );
        // A register past the covered ones cannot be found.
        assert_eq!(
            raise(&mut vec![0x00], &mut Cursor::start(0), 5, 1, 3000),
            Err(Corrupt)
        );
        // A cut-short XZERO reads its missing byte as 0.
        let mut body = vec![0x7f, 0xff];
        body.truncate(1);
        assert_eq!(ops(&body), [Op::XZero(0x3f00 + 1)]);
    }
}
