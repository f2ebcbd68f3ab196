//! Bitmap commands (behaves like Redis's bitops.c): SETBIT GETBIT BITCOUNT BITPOS BITOP
//! BITFIELD BITFIELD_RO.
//!
//! A bitmap is a plain string. Bit 0 is the most significant bit of byte 0, bit 8 the most
//! significant bit of byte 1, and so on; BITFIELD integers are big-endian in that numbering.
//! Reading past the end of a string yields zero bits; a write past it first grows the string
//! with zero bytes (like `lookupStringForBitCommand()`), and every write path leaves the
//! string reporting OBJECT ENCODING "raw", as `dbUnshareStringValue()` does in Redis.
//!
//! Invariant: a bit offset accepted from a client addresses a byte below
//! `proto-max-bulk-len`, so byte indexes fit in `usize` and a bit write never grows a string
//! past that limit.

use super::args::{self, is};
use super::string::{as_str, as_str_mut};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::{Db, Effects, Entry, EventClass, MultiGuard, SmallBytes, StrEncoding, Value};
use crate::protocol::Argv;
use crate::protocol::parse::parse_i64;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("setbit", setbit),
    ("getbit", getbit),
    ("bitcount", bitcount),
    ("bitpos", bitpos),
    ("bitop", bitop),
    ("bitfield", bitfield),
    ("bitfield_ro", bitfield_ro),
];

// ---------------------------------------------------------------------------------------
// Argument parsing
// ---------------------------------------------------------------------------------------

/// The bytes of `arg` up to its first NUL: what a C string function sees of it.
fn c_str(arg: &[u8]) -> &[u8] {
    memchr::memchr(0, arg).map_or(arg, |nul| &arg[..nul])
}

/// Case-insensitive keyword match.
///
/// COMPAT(redis 7.0): bitops.c compares keywords with `strcasecmp()`, which stops at the
/// first NUL, so `"bit\x00junk"` is accepted as `BIT`.
fn keyword(arg: &[u8], word: &str) -> bool {
    is(c_str(arg), word)
}

/// Parses a bit offset (behaves like `getBitOffsetFromArgument()`). With `field_bits`
/// (BITFIELD), `#N` means the N-th field of that width: offset N × `field_bits`.
/// Offsets whose byte would reach `proto-max-bulk-len` are refused.
fn bit_offset(arg: &[u8], field_bits: Option<u32>, max_bulk_len: i64) -> Result<u64, CmdError> {
    let (digits, scale) = match (arg.split_first(), field_bits) {
        (Some((b'#', rest)), Some(bits)) => (rest, i64::from(bits)),
        _ => (arg, 1),
    };
    let n = parse_i64(digits).ok_or(CmdError::BitOffset)?;
    // COMPAT(redis 7.0): C multiplies without an overflow check and the product wraps, so
    // `#4611686018427387904` with u4 lands back on offset 0 and is accepted.
    let n = n.wrapping_mul(scale);
    if n < 0 || (n >> 3) >= max_bulk_len {
        return Err(CmdError::BitOffset);
    }
    Ok(n as u64)
}

/// Parses the 0/1 value of SETBIT.
fn bit_value(arg: &[u8]) -> Result<bool, CmdError> {
    match parse_i64(arg) {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(CmdError::BitValue),
    }
}

/// Unit of BITCOUNT / BITPOS ranges.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Unit {
    Byte,
    Bit,
}

impl Unit {
    /// `BIT` or `BYTE`, else a syntax error.
    fn parse(arg: &[u8]) -> Result<Unit, CmdError> {
        if keyword(arg, "bit") {
            Ok(Unit::Bit)
        } else if keyword(arg, "byte") {
            Ok(Unit::Byte)
        } else {
            Err(CmdError::Syntax)
        }
    }
}

/// The bits `first..=last` that a user range `start..=end` covers in a string of `len`
/// bytes, or `None` when it covers nothing. Negative indexes count from the end, then both
/// ends are clamped into the string (the range code of `bitcountCommand()`).
fn resolve_range(len: usize, start: i64, end: i64, unit: Unit) -> Option<(u64, u64)> {
    let per_byte = match unit {
        Unit::Byte => 1,
        Unit::Bit => 8,
    };
    let total = i64::try_from(len)
        .unwrap_or(i64::MAX)
        .saturating_mul(per_byte);
    // `total >= 0`, so adding a negative index cannot overflow.
    let from_end = |i: i64| if i < 0 { total + i } else { i };
    let first = from_end(start).max(0);
    let last = from_end(end).max(0).min(total - 1);
    if first > last {
        return None;
    }
    let (first, last) = (first as u64, last as u64);
    Some(match unit {
        Unit::Bit => (first, last),
        Unit::Byte => (first * 8, last * 8 + 7),
    })
}

// ---------------------------------------------------------------------------------------
// Bit arithmetic on byte strings
// ---------------------------------------------------------------------------------------

/// Index of the byte holding bit `bit`. Lossless on 64-bit targets; client offsets are
/// bounded anyway (see the module invariant).
#[inline]
fn byte_of(bit: u64) -> usize {
    (bit >> 3) as usize
}

/// The mask of bit `bit` inside its byte.
#[inline]
fn bit_mask(bit: u64) -> u8 {
    0x80 >> (bit & 7)
}

/// Bit `bit` of `bytes`, zero past the end.
fn bit_at(bytes: &[u8], bit: u64) -> bool {
    bytes
        .get(byte_of(bit))
        .is_some_and(|b| b & bit_mask(bit) != 0)
}

/// A chunk of `chunks_exact(8)` as an array.
#[inline]
fn word(chunk: &[u8]) -> [u8; 8] {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    w
}

/// Number of set bits in `bytes`, a 64-bit word at a time (like `redisPopcount()`).
fn popcount(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let whole: u64 = words
        .by_ref()
        .map(|w| u64::from(u64::from_ne_bytes(word(w)).count_ones()))
        .sum();
    let rest: u64 = words
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    whole + rest
}

/// Set bits among bits `first..=last` of `bytes`; needs `first <= last < 8 × len`.
fn count_bits(bytes: &[u8], first: u64, last: u64) -> u64 {
    debug_assert!(first <= last && byte_of(last) < bytes.len());
    let (fb, lb) = (byte_of(first), byte_of(last));
    // Count whole bytes, then take back the bits of the edge bytes outside the range.
    let before = bytes[fb] & !(0xFF >> (first & 7));
    let after = bytes[lb] & !(0xFF << (7 - (last & 7)));
    popcount(&bytes[fb..=lb]) - u64::from(before.count_ones()) - u64::from(after.count_ones())
}

/// Position of the first bit equal to `want` among bits `first..=last` of `bytes`; needs
/// `first <= last < 8 × len`. Whole words are skipped at once (like `redisBitpos()`, with
/// the edge-byte masking of `bitposCommand()`).
fn find_bit(bytes: &[u8], want: bool, first: u64, last: u64) -> Option<u64> {
    debug_assert!(first <= last && byte_of(last) < bytes.len());
    // Looking for a 0 is looking for a 1 in the complement.
    let flip: u8 = if want { 0 } else { 0xFF };
    let (fb, lb) = (byte_of(first), byte_of(last));
    let head = 0xFF >> (first & 7); // bits at or after `first`
    let tail = 0xFF << (7 - (last & 7)); // bits at or before `last`
    let hit = |i: usize, x: u8| (x != 0).then(|| i as u64 * 8 + u64::from(x.leading_zeros()));
    if fb == lb {
        return hit(fb, (bytes[fb] ^ flip) & head & tail);
    }
    hit(fb, (bytes[fb] ^ flip) & head)
        .or_else(|| first_one(&bytes[fb + 1..lb], flip).map(|p| (fb as u64 + 1) * 8 + p))
        .or_else(|| hit(lb, (bytes[lb] ^ flip) & tail))
}

/// Position of the first 1 bit of `bytes` XOR `flip` (0x00 or 0xFF), a word at a time.
fn first_one(bytes: &[u8], flip: u8) -> Option<u64> {
    // `flip` repeats the same byte, so the word's byte order does not matter for it.
    let flip_word = u64::from_ne_bytes([flip; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut base = 0u64;
    for w in words.by_ref() {
        // Big-endian load: the first byte is the most significant, so leading zeros
        // count bits in bitmap order.
        let x = u64::from_be_bytes(word(w)) ^ flip_word;
        if x != 0 {
            return Some(base + u64::from(x.leading_zeros()));
        }
        base += 64;
    }
    words.remainder().iter().enumerate().find_map(|(i, &b)| {
        let x = b ^ flip;
        (x != 0).then(|| base + i as u64 * 8 + u64::from(x.leading_zeros()))
    })
}

/// Low `bits` (1..=64) set.
#[inline]
fn low_mask(bits: u32) -> u64 {
    u64::MAX >> (64 - bits)
}

/// Nine bytes from byte `start` (zero past the end) as a 72-bit big-endian number: any
/// field of up to 64 bits that starts in byte `start` lies inside it.
fn load_window(bytes: &[u8], start: usize) -> u128 {
    let mut buf = [0u8; 16];
    let avail = bytes.get(start..).unwrap_or_default();
    let n = avail.len().min(9);
    buf[..n].copy_from_slice(&avail[..n]);
    u128::from_be_bytes(buf) >> 56
}

/// Where a `bits`-wide field at bit `offset` sits in its 72-bit window: the shift of its
/// least significant bit.
#[inline]
fn window_shift(offset: u64, bits: u32) -> u32 {
    72 - (offset & 7) as u32 - bits
}

/// The `bits`-wide (1..=64) unsigned field at bit `offset`, bytes past the end reading as
/// zero (like `getUnsignedBitfield()` on the zero-padded copy BITFIELD GET makes).
fn read_field(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    let window = load_window(bytes, byte_of(offset));
    (window >> window_shift(offset, bits)) as u64 & low_mask(bits)
}

/// Stores the low `bits` (1..=64) of `value` as the field at bit `offset` (like
/// `setUnsignedBitfield()`). The caller has grown `bytes` to hold the whole field.
fn write_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    let start = byte_of(offset);
    let shift = window_shift(offset, bits);
    let mask = u128::from(low_mask(bits)) << shift;
    let window = (load_window(bytes, start) & !mask) | ((u128::from(value) << shift) & mask);
    let out = (window << 56).to_be_bytes();
    if let Some(dst) = bytes.get_mut(start..) {
        let n = dst.len().min(9);
        dst[..n].copy_from_slice(&out[..n]);
    }
}

// ---------------------------------------------------------------------------------------
// BITFIELD integers
// ---------------------------------------------------------------------------------------

/// A BITFIELD integer type: `i1`..`i64` or `u1`..`u63`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct FieldType {
    signed: bool,
    bits: u32,
}

impl FieldType {
    /// Parses `i<bits>` / `u<bits>` (behaves like `getBitfieldTypeFromArgument()`). u64 is
    /// refused because its values would not fit the protocol's signed integers.
    fn parse(arg: &[u8]) -> Result<FieldType, CmdError> {
        let invalid = || {
            CmdError::err(
                "Invalid bitfield type. Use something like i16 u8. Note that u64 is not \
                 supported but i64 is.",
            )
        };
        let (signed, width) = match arg.split_first() {
            Some((b'i', rest)) => (true, rest),
            Some((b'u', rest)) => (false, rest),
            _ => return Err(invalid()),
        };
        // COMPAT(redis 7.0): the width is read with `strlen()`, so it ends at a NUL.
        let bits = parse_i64(c_str(width)).ok_or_else(invalid)?;
        let widest = if signed { 64 } else { 63 };
        if !(1..=widest).contains(&bits) {
            return Err(invalid());
        }
        Ok(FieldType {
            signed,
            bits: bits as u32,
        })
    }

    /// Smallest value of the type.
    fn min(self) -> i128 {
        if self.signed {
            -(1i128 << (self.bits - 1))
        } else {
            0
        }
    }

    /// Largest value of the type.
    fn max(self) -> i128 {
        if self.signed {
            (1i128 << (self.bits - 1)) - 1
        } else {
            (1i128 << self.bits) - 1
        }
    }

    /// `v` reduced modulo 2^bits into the type's range: its low `bits` in two's
    /// complement, sign-extended for signed types.
    fn wrap(self, v: i128) -> i64 {
        let low = v as u64 & low_mask(self.bits);
        let negative = self.signed && low >> (self.bits - 1) & 1 == 1;
        if negative {
            (low | !low_mask(self.bits)) as i64
        } else {
            low as i64
        }
    }

    /// The field of this type at bit `offset`.
    fn read(self, bytes: &[u8], offset: u64) -> i64 {
        self.wrap(i128::from(read_field(bytes, offset, self.bits)))
    }

    /// Stores `v` (already in range) as the field at bit `offset`.
    fn write(self, bytes: &mut [u8], offset: u64, v: i64) {
        write_field(bytes, offset, self.bits, v as u64);
    }

    /// The value a SET or INCRBY stores over `old` under `overflow`, or `None` when FAIL
    /// refuses it (like `checkSignedBitfieldOverflow()` /
    /// `checkUnsignedBitfieldOverflow()`). The exact result is computed in 128 bits, so
    /// nothing overflows on the way, and then: inside [min, max] it is stored as is; WRAP
    /// keeps it modulo 2^bits, SAT clamps it to min or max.
    fn update(self, old: i64, op: FieldOp, overflow: Overflow) -> Option<i64> {
        let exact = match op {
            FieldOp::Get => return Some(old),
            FieldOp::Set(v) if self.signed => i128::from(v),
            // COMPAT(redis 7.0): an unsigned SET value is taken as a u64, so a negative
            // value is a huge positive one: SAT stores the maximum, not 0.
            FieldOp::Set(v) => i128::from(v as u64),
            FieldOp::IncrBy(by) => i128::from(old) + i128::from(by),
        };
        if (self.min()..=self.max()).contains(&exact) {
            // In range of an i64 or u63 type, so in range of i64.
            return Some(exact as i64);
        }
        match overflow {
            Overflow::Wrap => Some(self.wrap(exact)),
            Overflow::Sat if exact > self.max() => Some(self.max() as i64),
            Overflow::Sat => Some(self.min() as i64),
            Overflow::Fail => None,
        }
    }
}

/// BITFIELD's overflow policy for the SET and INCRBY that follow it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

impl Overflow {
    /// `WRAP`, `SAT` or `FAIL`.
    fn parse(arg: &[u8]) -> Result<Overflow, CmdError> {
        if keyword(arg, "wrap") {
            Ok(Overflow::Wrap)
        } else if keyword(arg, "sat") {
            Ok(Overflow::Sat)
        } else if keyword(arg, "fail") {
            Ok(Overflow::Fail)
        } else {
            Err(CmdError::err("Invalid OVERFLOW type specified"))
        }
    }
}

/// What one BITFIELD subcommand does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One parsed BITFIELD subcommand, with the overflow policy in force where it appeared.
#[derive(Clone, Copy, Debug)]
struct FieldCmd {
    op: FieldOp,
    ty: FieldType,
    offset: u64,
    overflow: Overflow,
}

impl FieldCmd {
    /// The last bit a SET or INCRBY writes; `None` for GET.
    fn last_written_bit(&self) -> Option<u64> {
        (self.op != FieldOp::Get).then(|| self.offset + u64::from(self.ty.bits) - 1)
    }

    /// Runs a SET or INCRBY on `bytes`: the reply value (the old value for SET, the new one
    /// for INCRBY) and whether the field changed, or `None` when OVERFLOW FAIL refused it.
    fn apply(&self, bytes: &mut [u8]) -> Option<(i64, bool)> {
        let old = self.ty.read(bytes, self.offset);
        let new = self.ty.update(old, self.op, self.overflow)?;
        self.ty.write(bytes, self.offset, new);
        let reply = if matches!(self.op, FieldOp::Set(_)) {
            old
        } else {
            new
        };
        Some((reply, old != new))
    }
}

/// Parses BITFIELD's subcommands (the parsing loop of `bitfieldGeneric()`): every error
/// is reported before anything is looked up.
fn parse_bitfield(argv: &Argv<'_>, max_bulk_len: i64) -> Result<Vec<FieldCmd>, CmdError> {
    let mut cmds = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let sub = argv.get(j);
        let remaining = argv.len() - j - 1;
        let (writes, needed) = if keyword(sub, "get") {
            (false, 2)
        } else if keyword(sub, "set") || keyword(sub, "incrby") {
            (true, 3)
        } else if keyword(sub, "overflow") && remaining >= 1 {
            overflow = Overflow::parse(argv.get(j + 1))?;
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        if remaining < needed {
            return Err(CmdError::Syntax);
        }
        let ty = FieldType::parse(argv.get(j + 1))?;
        let offset = bit_offset(argv.get(j + 2), Some(ty.bits), max_bulk_len)?;
        let op = if !writes {
            FieldOp::Get
        } else if keyword(sub, "set") {
            FieldOp::Set(args::int(argv.get(j + 3))?)
        } else {
            FieldOp::IncrBy(args::int(argv.get(j + 3))?)
        };
        cmds.push(FieldCmd {
            op,
            ty,
            offset,
            overflow,
        });
        j += 1 + needed;
    }
    Ok(cmds)
}

// ---------------------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------------------

/// A BITOP operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

impl BitOp {
    /// `AND`, `OR`, `XOR` or `NOT`, else a syntax error.
    fn parse(arg: &[u8]) -> Result<BitOp, CmdError> {
        [
            ("and", BitOp::And),
            ("or", BitOp::Or),
            ("xor", BitOp::Xor),
            ("not", BitOp::Not),
        ]
        .into_iter()
        .find(|(name, _)| keyword(arg, name))
        .map(|(_, op)| op)
        .ok_or(CmdError::Syntax)
    }

    /// Combines source number `index` into `acc`, which is as long as the longest
    /// source; a source's missing tail counts as zero bytes.
    fn fold(self, acc: &mut [u8], src: &[u8], index: usize) {
        let n = src.len().min(acc.len());
        let (head, tail) = acc.split_at_mut(n);
        let src = &src[..n];
        match (self, index) {
            (BitOp::Not, _) => combine_words(head, src, |_, b| !b),
            (_, 0) => head.copy_from_slice(src),
            (BitOp::And, _) => {
                combine_words(head, src, |a, b| a & b);
                tail.fill(0);
            }
            (BitOp::Or, _) => combine_words(head, src, |a, b| a | b),
            (BitOp::Xor, _) => combine_words(head, src, |a, b| a ^ b),
        }
    }
}

/// `acc[i] = f(acc[i], src[i])` over two equally long slices, a 64-bit word at a time.
/// `f` must act on each bit independently (AND, OR, XOR, NOT), so byte order is irrelevant.
fn combine_words(acc: &mut [u8], src: &[u8], f: impl Fn(u64, u64) -> u64) {
    let mut a = acc.chunks_exact_mut(8);
    let mut b = src.chunks_exact(8);
    for (x, y) in a.by_ref().zip(b.by_ref()) {
        let r = f(u64::from_ne_bytes(word(x)), u64::from_ne_bytes(word(y)));
        x.copy_from_slice(&r.to_ne_bytes());
    }
    for (x, y) in a.into_remainder().iter_mut().zip(b.remainder()) {
        *x = f(u64::from(*x), u64::from(*y)) as u8;
    }
}

/// Runs `op` over BITOP's source keys (`argv[3..]`), all already checked to be strings or
/// missing; `len` is the longest one's length.
fn bitop_result(
    locked: &mut MultiGuard<'_>,
    db: usize,
    op: BitOp,
    argv: &Argv<'_>,
    len: usize,
) -> Vec<u8> {
    let mut acc = vec![0u8; len];
    for (i, key) in argv.iter().skip(3).enumerate() {
        let src: &[u8] = match locked.db(key, db).peek(key) {
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => s,
            _ => &[],
        };
        op.fold(&mut acc, src, i);
    }
    acc
}

// ---------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------

/// The string at `key` made ready for a bit write reaching bit `last_bit`: created, or
/// grown with zero bytes, so that bit exists (behaves like `lookupStringForBitCommand()`).
/// Also returns whether it was created or grown, which makes every write count as a
/// change.
fn string_for_write<'d>(
    d: &'d mut Db,
    key: &[u8],
    last_bit: u64,
    fx: &mut Effects,
) -> Result<(&'d mut SmallBytes, bool), CmdError> {
    let needed = byte_of(last_bit) + 1;
    let (pos, created) = match d.find(key, fx) {
        Some(pos) => {
            as_str(d.at(pos))?;
            (pos, false)
        }
        None => (d.add(key, Value::Str(SmallBytes::new()), fx), true),
    };
    let entry = d.at_mut(pos);
    // Redis swaps in a fresh raw object before writing, even if nothing then changes.
    entry.str_encoding = StrEncoding::Raw;
    let s = as_str_mut(entry)?;
    let grows = s.len() < needed;
    if grows {
        s.resize(needed);
    }
    Ok((s, created || grows))
}

/// SETBIT key offset 0|1: replies with the bit's old value; a write that neither grows
/// the string nor flips the bit is not a change (behaves like `setbitCommand()`).
fn setbit(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let offset = bit_offset(argv.get(2), None, ctx.settings.proto_max_bulk_len)?;
    let on = bit_value(argv.get(3))?;
    let mut shard = ctx.keyspace().lock_key(key);
    let (s, grown) = string_for_write(shard.db(ctx.client.db), key, offset, ctx.fx)?;
    // `string_for_write` made the byte exist.
    let byte = &mut s[byte_of(offset)];
    let was = *byte & bit_mask(offset) != 0;
    if grown || was != on {
        *byte = if on {
            *byte | bit_mask(offset)
        } else {
            *byte & !bit_mask(offset)
        };
        ctx.fx.dirty += 1;
        ctx.fx.notify(EventClass::STRING, "setbit", key);
    }
    ctx.reply.int(i64::from(was));
    Ok(())
}

/// GETBIT key offset: 0 past the end or for a missing key.
fn getbit(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let offset = bit_offset(argv.get(2), None, ctx.settings.proto_max_bulk_len)?;
    let mut shard = ctx.keyspace().lock_key(key);
    let bit = match shard.db(ctx.client.db).lookup_read(key, ctx.fx) {
        Some(e) => bit_at(as_str(e)?, offset),
        None => false,
    };
    ctx.reply.int(i64::from(bit));
    Ok(())
}

/// BITCOUNT key [start end [BYTE|BIT]]: a missing key counts 0 before any argument is
/// checked, as in `bitcountCommand()`.
fn bitcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(e) = shard.db(ctx.client.db).lookup_read(key, ctx.fx) else {
        ctx.reply.int(0);
        return Ok(());
    };
    let s = as_str(e)?;
    let range = match argv.len() {
        2 => resolve_range(s.len(), 0, -1, Unit::Byte),
        4 | 5 => {
            let start = args::int(argv.get(2))?;
            let end = args::int(argv.get(3))?;
            // COMPAT(redis 7.0): two negative indexes in reverse order count nothing, even
            // where clamping would have made them overlap, and before the unit is parsed.
            if start < 0 && end < 0 && start > end {
                ctx.reply.int(0);
                return Ok(());
            }
            let unit = match argv.try_get(4) {
                Some(arg) => Unit::parse(arg)?,
                None => Unit::Byte,
            };
            resolve_range(s.len(), start, end, unit)
        }
        _ => return Err(CmdError::Syntax),
    };
    let count = range.map_or(0, |(first, last)| count_bits(s, first, last));
    ctx.reply.int(count as i64);
    Ok(())
}

/// BITPOS's answer over a string: the first bit equal to `want` in `start..=end`, or -1.
/// Without an explicit end the string counts as zero padded on the right, so a search for
/// 0 in an all-ones string finds the first bit past it (as `bitposCommand()` does).
fn bitpos_in(s: &[u8], want: bool, start: i64, end: Option<i64>, unit: Unit) -> i64 {
    let Some((first, last)) = resolve_range(s.len(), start, end.unwrap_or(-1), unit) else {
        return -1;
    };
    match find_bit(s, want, first, last) {
        Some(pos) => pos as i64,
        None if !want && end.is_none() => (last + 1) as i64,
        None => -1,
    }
}

/// BITPOS key bit [start [end [BYTE|BIT]]]: the bit is checked first, then a missing key
/// answers at once (-1 for 1, 0 for 0), then the range; as in `bitposCommand()`.
fn bitpos(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let want = match args::int(argv.get(2))? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::err("The bit argument must be 1 or 0.")),
    };
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(e) = shard.db(ctx.client.db).lookup_read(key, ctx.fx) else {
        ctx.reply.int(if want { -1 } else { 0 });
        return Ok(());
    };
    let s = as_str(e)?;
    let (start, end, unit) = match argv.len() {
        3 => (0, None, Unit::Byte),
        4..=6 => {
            let start = args::int(argv.get(3))?;
            // The unit is checked before the end is parsed.
            let unit = match argv.try_get(5) {
                Some(arg) => Unit::parse(arg)?,
                None => Unit::Byte,
            };
            let end = match argv.try_get(4) {
                Some(arg) => Some(args::int(arg)?),
                None => None,
            };
            (start, end, unit)
        }
        _ => return Err(CmdError::Syntax),
    };
    ctx.reply.int(bitpos_in(s, want, start, end, unit));
    Ok(())
}

/// BITOP op dest key...: every source is looked up and type-checked before anything is
/// computed; an empty result deletes the destination (behaves like `bitopCommand()`).
fn bitop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let op = BitOp::parse(argv.get(1))?;
    if op == BitOp::Not && argv.len() != 4 {
        return Err(CmdError::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let dest = argv.get(2);
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys(argv.iter().skip(2));
    let mut len = 0;
    for key in argv.iter().skip(3) {
        let d = locked.db(key, db);
        if let Some(pos) = d.find_read(key, ctx.fx) {
            len = len.max(as_str(d.at(pos))?.len());
        }
    }
    let result = (len > 0).then(|| bitop_result(&mut locked, db, op, argv, len));
    let d = locked.db(dest, db);
    match result {
        Some(bytes) => {
            // Expire a stale destination first, so its `new` event fires as in `setKey()`.
            d.find(dest, ctx.fx);
            let pos = d.set(dest, Value::Str(SmallBytes::from_vec(bytes)), false, ctx.fx);
            d.at_mut(pos).str_encoding = StrEncoding::Raw;
            ctx.fx.dirty += 1;
            ctx.fx.notify(EventClass::STRING, "set", dest);
        }
        // COMPAT(redis 7.0): `dbDelete()` does not check expiry, so even a destination
        // that is already expired counts as deleted.
        None if d.remove(dest).is_some() => {
            ctx.fx.dirty += 1;
            ctx.fx.notify(EventClass::GENERIC, "del", dest);
        }
        None => {}
    }
    ctx.reply.int(len as i64);
    Ok(())
}

/// BITFIELD key [GET|SET|INCRBY|OVERFLOW ...]...
fn bitfield(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    bitfield_generic(ctx, argv, false)
}

/// BITFIELD_RO key [GET ...]...: BITFIELD restricted to GET.
fn bitfield_ro(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    bitfield_generic(ctx, argv, true)
}

/// BITFIELD and BITFIELD_RO (behaves like `bitfieldGeneric()`): all subcommands are
/// parsed first; a GET-only call reads, anything else grows the string once to the
/// farthest bit written, then the subcommands run in order, each seeing the ones before.
fn bitfield_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, read_only: bool) -> CmdResult {
    let cmds = parse_bitfield(argv, ctx.settings.proto_max_bulk_len)?;
    let last_bit = cmds.iter().filter_map(FieldCmd::last_written_bit).max();
    if read_only && last_bit.is_some() {
        return Err(CmdError::err(
            "BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some(last_bit) = last_bit else {
        let s: &[u8] = match d.lookup_read(key, ctx.fx) {
            Some(e) => as_str(e)?,
            None => &[],
        };
        ctx.reply.array(cmds.len());
        for cmd in &cmds {
            ctx.reply.int(cmd.ty.read(s, cmd.offset));
        }
        return Ok(());
    };
    let (s, grown) = string_for_write(d, key, last_bit, ctx.fx)?;
    ctx.reply.array(cmds.len());
    let mut changes = 0;
    for cmd in &cmds {
        if cmd.op == FieldOp::Get {
            ctx.reply.int(cmd.ty.read(s, cmd.offset));
            continue;
        }
        match cmd.apply(s) {
            Some((value, changed)) => {
                ctx.reply.int(value);
                changes += u64::from(grown || changed);
            }
            None => ctx.reply.null(),
        }
    }
    if changes > 0 {
        ctx.fx.dirty += changes;
        ctx.fx.notify(EventClass::STRING, "setbit", key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX_BULK: i64 = 512 * 1024 * 1024;

    /// Bit `i` of `bytes`, one bit at a time.
    fn ref_bit(bytes: &[u8], i: u64) -> bool {
        let byte = (i / 8) as usize;
        byte < bytes.len() && (bytes[byte] >> (7 - i % 8)) & 1 == 1
    }

    /// Sets bit `i` of `bytes`, one bit at a time.
    fn ref_set_bit(bytes: &mut [u8], i: u64, on: bool) {
        let byte = (i / 8) as usize;
        let mask = 1u8 << (7 - i % 8);
        if on {
            bytes[byte] |= mask;
        } else {
            bytes[byte] &= !mask;
        }
    }

    /// The user range as a list of bit indexes, by walking every bit of the string.
    fn ref_range(len: usize, start: i64, end: i64, unit: Unit) -> Vec<u64> {
        let per = if unit == Unit::Bit { 1 } else { 8 };
        let total = len as i64 * 8 / per;
        let norm = |i: i64| if i < 0 { (total + i).max(0) } else { i };
        let (s, e) = (norm(start), norm(end).min(total - 1));
        (0..len as u64 * 8)
            .filter(|&b| {
                let unit_index = (b / per as u64) as i64;
                unit_index >= s && unit_index <= e
            })
            .collect()
    }

    /// BITPOS computed bit by bit.
    fn ref_bitpos(s: &[u8], want: bool, start: i64, end: Option<i64>, unit: Unit) -> i64 {
        let bits = ref_range(s.len(), start, end.unwrap_or(-1), unit);
        match bits.iter().find(|&&b| ref_bit(s, b) == want) {
            Some(&b) => b as i64,
            None if bits.is_empty() => -1,
            None if !want && end.is_none() => *bits.last().unwrap_or(&0) as i64 + 1,
            None => -1,
        }
    }

    fn ref_read_field(bytes: &[u8], offset: u64, ty: FieldType) -> i64 {
        let mut v: i128 = 0;
        for i in 0..u64::from(ty.bits) {
            v = v * 2 + i128::from(ref_bit(bytes, offset + i));
        }
        if ty.signed && v > ty.max() {
            v -= 1i128 << ty.bits;
        }
        v as i64
    }

    fn ref_write_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
        for i in 0..bits {
            let bit = (value >> (bits - 1 - i)) & 1 == 1;
            ref_set_bit(bytes, offset + u64::from(i), bit);
        }
    }

    /// Modular reduction into [min, max], computed with Euclid's remainder.
    fn ref_wrap(ty: FieldType, v: i128) -> i64 {
        (ty.min() + (v - ty.min()).rem_euclid(1i128 << ty.bits)) as i64
    }

    fn field_type() -> impl Strategy<Value = FieldType> {
        prop_oneof![
            (1u32..=64).prop_map(|bits| FieldType { signed: true, bits }),
            (1u32..=63).prop_map(|bits| FieldType {
                signed: false,
                bits
            }),
        ]
    }

    fn unit() -> impl Strategy<Value = Unit> {
        prop_oneof![Just(Unit::Byte), Just(Unit::Bit)]
    }

    fn bitmap() -> impl Strategy<Value = Vec<u8>> {
        // Mostly runs of 0x00 / 0xFF so the word skipping in `find_bit` is exercised.
        prop::collection::vec(prop_oneof![Just(0u8), Just(0xFF), any::<u8>()], 0..80)
    }

    #[test]
    fn offsets_like_redis() {
        assert_eq!(bit_offset(b"7", None, MAX_BULK), Ok(7));
        assert_eq!(bit_offset(b"#3", None, MAX_BULK), Err(CmdError::BitOffset));
        assert_eq!(bit_offset(b"#3", Some(8), MAX_BULK), Ok(24));
        assert_eq!(bit_offset(b"-1", None, MAX_BULK), Err(CmdError::BitOffset));
        assert_eq!(
            bit_offset(b"#-1", Some(8), MAX_BULK),
            Err(CmdError::BitOffset)
        );
        assert_eq!(bit_offset(b"", None, MAX_BULK), Err(CmdError::BitOffset));
        assert_eq!(
            bit_offset(b"#", Some(8), MAX_BULK),
            Err(CmdError::BitOffset)
        );
        assert_eq!(bit_offset(b"4294967295", None, MAX_BULK), Ok(4294967295));
        assert_eq!(
            bit_offset(b"4294967296", None, MAX_BULK),
            Err(CmdError::BitOffset)
        );
        // The product wraps as in C: 2^62 × 4 = 2^64 ≡ 0.
        assert_eq!(
            bit_offset(b"#4611686018427387904", Some(4), MAX_BULK),
            Ok(0)
        );
        assert_eq!(
            bit_offset(b"#9223372036854775807", Some(64), MAX_BULK),
            Err(CmdError::BitOffset)
        );
    }

    #[test]
    fn types_like_redis() {
        let ok = |s: &[u8]| FieldType::parse(s).ok();
        assert_eq!(
            ok(b"i64"),
            Some(FieldType {
                signed: true,
                bits: 64
            })
        );
        assert_eq!(
            ok(b"u63"),
            Some(FieldType {
                signed: false,
                bits: 63
            })
        );
        assert_eq!(
            ok(b"i8\x00junk"),
            Some(FieldType {
                signed: true,
                bits: 8
            })
        );
        for bad in [
            &b"u64"[..],
            b"i65",
            b"i0",
            b"u",
            b"",
            b"I8",
            b"i08",
            b"i+8",
            b"8",
        ] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn overflow_policies() {
        let u8t = FieldType {
            signed: false,
            bits: 8,
        };
        let i8t = FieldType {
            signed: true,
            bits: 8,
        };
        let i64t = FieldType {
            signed: true,
            bits: 64,
        };
        assert_eq!(
            u8t.update(250, FieldOp::IncrBy(10), Overflow::Wrap),
            Some(4)
        );
        assert_eq!(
            u8t.update(250, FieldOp::IncrBy(10), Overflow::Sat),
            Some(255)
        );
        assert_eq!(u8t.update(250, FieldOp::IncrBy(10), Overflow::Fail), None);
        assert_eq!(u8t.update(5, FieldOp::IncrBy(-10), Overflow::Sat), Some(0));
        assert_eq!(u8t.update(0, FieldOp::Set(-1), Overflow::Sat), Some(255));
        assert_eq!(u8t.update(0, FieldOp::Set(-1), Overflow::Wrap), Some(255));
        assert_eq!(
            i8t.update(120, FieldOp::IncrBy(10), Overflow::Wrap),
            Some(-126)
        );
        assert_eq!(
            i8t.update(-120, FieldOp::IncrBy(-10), Overflow::Sat),
            Some(-128)
        );
        assert_eq!(i8t.update(0, FieldOp::Set(200), Overflow::Wrap), Some(-56));
        assert_eq!(
            i64t.update(i64::MAX, FieldOp::IncrBy(1), Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(
            i64t.update(i64::MIN, FieldOp::IncrBy(i64::MIN), Overflow::Sat),
            Some(i64::MIN)
        );
        assert_eq!(
            i64t.update(i64::MAX, FieldOp::IncrBy(1), Overflow::Fail),
            None
        );
    }

    #[test]
    fn bitop_folds() {
        let mut acc = vec![0u8; 20];
        let a: Vec<u8> = (0..20).collect();
        let b = [0xF0u8; 12];
        BitOp::And.fold(&mut acc, &a, 0);
        BitOp::And.fold(&mut acc, &b, 1);
        let want: Vec<u8> = (0..20).map(|i| if i < 12 { i & 0xF0 } else { 0 }).collect();
        assert_eq!(acc, want);
        let mut acc = vec![0u8; 20];
        BitOp::Or.fold(&mut acc, &b, 0);
        BitOp::Xor.fold(&mut acc, &a, 1);
        let want: Vec<u8> = (0..20u8)
            .map(|i| if i < 12 { i ^ 0xF0 } else { i })
            .collect();
        assert_eq!(acc, want);
        let mut acc = vec![0u8; 20];
        BitOp::Not.fold(&mut acc, &a, 0);
        assert_eq!(acc, a.iter().map(|x| !x).collect::<Vec<_>>());
    }

    proptest! {
        #[test]
        fn count_bits_matches_bit_by_bit(s in bitmap(), start in -700i64..700, end in -700i64..700, unit in unit()) {
            let want = ref_range(s.len(), start, end, unit).iter().filter(|&&b| ref_bit(&s, b)).count() as u64;
            let got = resolve_range(s.len(), start, end, unit).map_or(0, |(f, l)| count_bits(&s, f, l));
            prop_assert_eq!(got, want);
        }

        #[test]
        fn bitpos_matches_bit_by_bit(s in bitmap(), want in any::<bool>(), start in -700i64..700, end in prop::option::of(-700i64..700), unit in unit()) {
            // Without an explicit end only byte ranges exist.
            let unit = if end.is_none() { Unit::Byte } else { unit };
            prop_assert_eq!(bitpos_in(&s, want, start, end, unit), ref_bitpos(&s, want, start, end, unit));
        }

        #[test]
        fn read_field_matches_bit_by_bit(s in bitmap(), offset in 0u64..700, ty in field_type()) {
            prop_assert_eq!(ty.read(&s, offset), ref_read_field(&s, offset, ty));
        }

        #[test]
        fn write_field_matches_bit_by_bit(mut s in bitmap(), offset in 0u64..600, bits in 1u32..=64, value in any::<u64>()) {
            let needed = (offset + u64::from(bits) - 1) as usize / 8 + 1;
            if s.len() < needed {
                s.resize(needed, 0);
            }
            let mut want = s.clone();
            ref_write_field(&mut want, offset, bits, value);
            write_field(&mut s, offset, bits, value);
            prop_assert_eq!(&s, &want);
            prop_assert_eq!(read_field(&s, offset, bits), value & low_mask(bits));
        }

        #[test]
        fn update_stays_in_range(ty in field_type(), raw in any::<u64>(), arg in any::<i64>(), incr in any::<bool>()) {
            let old = ty.wrap(i128::from(raw));
            let op = if incr { FieldOp::IncrBy(arg) } else { FieldOp::Set(arg) };
            let exact = match op {
                FieldOp::IncrBy(by) => i128::from(old) + i128::from(by),
                FieldOp::Set(v) if ty.signed => i128::from(v),
                FieldOp::Set(v) => i128::from(v as u64),
                FieldOp::Get => unreachable!(),
            };
            let fits = exact >= ty.min() && exact <= ty.max();
            let wrapped = ty.update(old, op, Overflow::Wrap);
            prop_assert_eq!(wrapped, Some(ref_wrap(ty, exact)));
            let sat = ty.update(old, op, Overflow::Sat).map(i128::from);
            prop_assert_eq!(sat, Some(exact.clamp(ty.min(), ty.max())));
            let fail = ty.update(old, op, Overflow::Fail);
            prop_assert_eq!(fail, fits.then_some(exact as i64));
        }

        #[test]
        fn parsers_never_panic(arg in prop::collection::vec(any::<u8>(), 0..24), bits in 0u32..70) {
            let _ = bit_offset(&arg, Some(bits.max(1)), MAX_BULK);
            let _ = bit_offset(&arg, None, MAX_BULK);
            let _ = FieldType::parse(&arg);
            let _ = Overflow::parse(&arg);
            let _ = BitOp::parse(&arg);
            let _ = Unit::parse(&arg);
        }

        #[test]
        fn extreme_ranges_never_panic(s in bitmap(), start in any::<i64>(), end in any::<i64>(), unit in unit(), want in any::<bool>()) {
            let _ = resolve_range(s.len(), start, end, unit).map(|(f, l)| count_bits(&s, f, l));
            let _ = bitpos_in(&s, want, start, Some(end), unit);
        }
    }
}
