//! Geo commands (behaves like Redis's geo.c): GEOADD GEOPOS GEODIST GEOHASH GEOSEARCH
//! GEOSEARCHSTORE GEORADIUS GEORADIUS_RO GEORADIUSBYMEMBER GEORADIUSBYMEMBER_RO.
//!
//! A geo set is a plain sorted set whose scores are 52-bit geohashes ([`hash`]), so
//! ZRANGE, ZSCORE and DUMP see Redis's exact values, and any sorted set can be read as
//! one (every score decodes to some position). GEOADD is ZADD with computed scores.
//!
//! A search visits the cell holding the center and its eight neighbours at a step
//! chosen from the search size, walks the score range of each, keeps the members inside
//! the radius or box, and sorts them by distance with the same algorithms as Redis
//! ([`sort`]), so members at equal distances come out in Redis's order too. The STORE
//! forms write the found members with their geohash or (STOREDIST) their distance as
//! score.

mod hash;
mod sort;

use std::cmp::Ordering;
use std::ffi::c_char;

use self::hash::{Extent, Shape};
use super::args::{self, is};
use super::zset::{as_zset, read_zset, reply_per_member, store_result, zadd_pairs};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::zset::{AddFlags, ScoreRange};
use crate::keyspace::{SmallBytes, ZSetValue};
use crate::protocol::{Argv, Reply};
use crate::util::pqsort::partial_sort;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("geoadd", geoadd),
    ("geopos", geopos),
    ("geodist", geodist),
    ("geohash", geohash),
    ("georadius", georadius),
    ("georadius_ro", georadius_ro),
    ("georadiusbymember", georadiusbymember),
    ("georadiusbymember_ro", georadiusbymember_ro),
    ("geosearch", geosearch),
    ("geosearchstore", geosearchstore),
];

// ---------------------------------------------------------------------------------------
// Arguments and number formats

/// An option keyword as C's `strcasecmp()` sees it: up to the first NUL byte.
fn keyword_is(arg: &[u8], keyword: &str) -> bool {
    is(&arg[..memchr::memchr(0, arg).unwrap_or(arg.len())], keyword)
}

/// `printf(format, d)` for a format taking one double.
fn c_format(format: &std::ffi::CStr, d: f64) -> String {
    // `%f` of the largest double has 309 integer digits.
    let mut buf = [0u8; 400];
    // SAFETY: snprintf writes at most `buf.len()` bytes, NUL included; the format takes
    // exactly one double.
    let n = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut c_char,
            buf.len(),
            format.as_ptr(),
            d,
        )
    };
    let n = (n.max(0) as usize).min(buf.len() - 1);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A longitude, latitude pair inside the Mercator square (`extractLongLatOrReply()`).
fn parse_position(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let (lon, lat) = (args::float(lon)?, args::float(lat)?);
    if !hash::in_range(lon, lat) {
        return Err(CmdError::err(format!(
            "invalid longitude,latitude pair {},{}",
            c_format(c"%f", lon),
            c_format(c"%f", lat)
        )));
    }
    Ok((lon, lat))
}

/// A double, or an error with this message (`getDoubleFromObjectOrReply()` with one).
fn float_or(arg: &[u8], msg: &str) -> Result<f64, CmdError> {
    args::float(arg).map_err(|_| CmdError::err(msg))
}

/// Meters per unit (`extractUnitOrReply()`).
fn parse_unit(arg: &[u8]) -> Result<f64, CmdError> {
    const UNITS: [(&str, f64); 4] = [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)];
    UNITS
        .iter()
        .find(|(name, _)| keyword_is(arg, name))
        .map(|&(_, to_meters)| to_meters)
        .ok_or_else(|| CmdError::err("unsupported unit provided. please use M, KM, FT, MI"))
}

/// `<radius> <unit>` (`extractDistanceOrReply()`): the extent and meters per unit.
fn parse_radius(radius: &[u8], unit: &[u8]) -> Result<(Extent, f64), CmdError> {
    let r = float_or(radius, "need numeric radius")?;
    if r < 0.0 {
        return Err(CmdError::err("radius cannot be negative"));
    }
    Ok((Extent::Radius(r), parse_unit(unit)?))
}

/// `<width> <height> <unit>` (`extractBoxOrReply()`).
fn parse_box(width: &[u8], height: &[u8], unit: &[u8]) -> Result<(Extent, f64), CmdError> {
    let width = float_or(width, "need numeric width")?;
    let height = float_or(height, "need numeric height")?;
    if height < 0.0 || width < 0.0 {
        return Err(CmdError::err("height or width cannot be negative"));
    }
    Ok((Extent::Box { width, height }, parse_unit(unit)?))
}

/// A distance with 4 decimals, as a bulk string in both protocols
/// (`addReplyDoubleDistance()`: `llrint(d × 10⁴)` written out as fixed point).
fn reply_distance(r: &mut Reply, d: f64) {
    if d == 0.0 {
        return r.bulk(b"0.0000");
    }
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let scaled = d * 10000.0;
    // `llrint()` rounds half to even; NaN and overflow give LLONG_MIN on x86-64.
    let n = if (-TWO_63..TWO_63).contains(&scaled) {
        scaled.round_ties_even() as i64
    } else {
        i64::MIN
    };
    let sign = if n < 0 { "-" } else { "" };
    let v = n.unsigned_abs();
    r.bulk(format!("{sign}{}.{:04}", v / 10000, v % 10000).as_bytes());
}

/// A coordinate as `addReplyHumanLongDouble()` prints it: `%.17Lf` without trailing
/// zeros, a RESP3 double or a bulk string. Widening a double to long double is exact, so
/// `%.17f` of the double gives the same digits.
fn reply_coordinate(r: &mut Reply, d: f64) {
    let mut text = c_format(c"%.17f", d);
    if text.contains('.') {
        let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(trimmed);
    }
    if text == "-0" {
        text = "0".into();
    }
    if r.is_resp3() {
        r.raw(b",");
        r.raw(text.as_bytes());
        r.raw(b"\r\n");
    } else {
        r.bulk(text.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------
// GEOADD, GEOPOS, GEODIST, GEOHASH

/// GEOADD key [NX|XX] [CH] lon lat member [lon lat member ...]: ZADD with the members'
/// geohashes as scores (behaves like `geoaddCommand()`).
fn geoadd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut flags = AddFlags::default();
    let mut ch = false;
    let mut first = 2;
    while let Some(opt) = argv.try_get(first) {
        if keyword_is(opt, "nx") {
            flags.nx = true;
        } else if keyword_is(opt, "xx") {
            flags.xx = true;
        } else if keyword_is(opt, "ch") {
            ch = true;
        } else {
            break;
        }
        first += 1;
    }
    let args_left = argv.len() - first;
    // No triple at all is ZADD's syntax error.
    if args_left == 0 || !args_left.is_multiple_of(3) || (flags.nx && flags.xx) {
        return Err(CmdError::Syntax);
    }
    let pairs: Vec<(f64, &[u8])> = (first..argv.len())
        .step_by(3)
        .map(|i| {
            let (lon, lat) = parse_position(argv.get(i), argv.get(i + 1))?;
            Ok((hash::score_of(lon, lat), argv.get(i + 2)))
        })
        .collect::<Result<_, CmdError>>()?;
    zadd_pairs(ctx, argv.get(1), flags, ch, &pairs)
}

/// GEOPOS key member [member ...] (behaves like `geoposCommand()`).
fn geopos(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_per_member(ctx, argv, |r, score| match score.map(hash::decode_score) {
        Some((lon, lat)) => {
            r.array(2);
            reply_coordinate(r, lon);
            reply_coordinate(r, lat);
        }
        None => r.null_array(),
    })
}

/// GEOHASH key member [member ...] (behaves like `geohashCommand()`).
fn geohash(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_per_member(ctx, argv, |r, score| match score.map(hash::decode_score) {
        Some((lon, lat)) => r.bulk(&hash::geohash_string(lon, lat)),
        None => r.null(),
    })
}

/// GEODIST key member1 member2 [M|KM|FT|MI] (behaves like `geodistCommand()`).
fn geodist(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let to_meters = match argv.len() {
        4 => 1.0,
        5 => parse_unit(argv.get(4))?,
        _ => return Err(CmdError::Syntax),
    };
    let (a, b) = (argv.get(2), argv.get(3));
    read_zset(
        ctx,
        argv.get(1),
        |r| r.null(),
        |z, r| match (z.score(a), z.score(b)) {
            (Some(s1), Some(s2)) => {
                let ((lon1, lat1), (lon2, lat2)) = (hash::decode_score(s1), hash::decode_score(s2));
                reply_distance(r, hash::distance(lon1, lat1, lon2, lat2) / to_meters);
            }
            _ => r.null(),
        },
    )
}

// ---------------------------------------------------------------------------------------
// The searches

/// How a search command lays out its arguments (Redis's `RADIUS_*` / `GEOSEARCH*`
/// flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// GEORADIUS key lon lat radius unit [options]; `store` unless _RO.
    Radius { store: bool },
    /// GEORADIUSBYMEMBER key member radius unit [options]; `store` unless _RO.
    ByMember { store: bool },
    /// GEOSEARCH key FROM... BY... [options].
    Search,
    /// GEOSEARCHSTORE dst key FROM... BY... [options] [STOREDIST].
    SearchStore,
}

impl Form {
    fn src_index(self) -> usize {
        if self == Form::SearchStore { 2 } else { 1 }
    }

    /// Whether STORE key / STOREDIST key are options.
    fn store_option(self) -> bool {
        matches!(
            self,
            Form::Radius { store: true } | Form::ByMember { store: true }
        )
    }

    fn is_search(self) -> bool {
        matches!(self, Form::Search | Form::SearchStore)
    }

    /// Every key the command may touch: the source, and the destination of a STORE
    /// form; for GEORADIUS any argument after STORE or STOREDIST, since which one is the
    /// destination is known only once the options are parsed.
    fn keys<'a>(self, argv: &Argv<'a>) -> Vec<&'a [u8]> {
        let mut keys = vec![argv.get(self.src_index())];
        if self == Form::SearchStore {
            keys.push(argv.get(1));
        } else if self.store_option() {
            for i in 2..argv.len() - 1 {
                let arg = argv.get(i);
                if keyword_is(arg, "store") || keyword_is(arg, "storedist") {
                    keys.push(argv.get(i + 1));
                }
            }
        }
        keys
    }
}

/// The order of the results.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A parsed search (the locals of `georadiusGeneric()` after its option loop).
struct Search<'a> {
    /// Known whenever the source key exists.
    shape: Option<Shape>,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    /// At most this many results; 0 for all.
    count: usize,
    /// Stop at the first `count` found rather than the nearest ones.
    any: bool,
    store: Option<&'a [u8]>,
    /// Store distances rather than geohashes.
    storedist: bool,
}

/// The position of `member` in `z`, as a search center.
fn member_position(z: &ZSetValue, member: &[u8]) -> Result<(f64, f64), CmdError> {
    z.score(member)
        .map(hash::decode_score)
        .ok_or_else(|| CmdError::err("could not decode requested zset member"))
}

/// What a search's fixed arguments give: its center and extent where they come before
/// the options, the destination of GEOSEARCHSTORE, and where the options start.
struct Leading<'a> {
    center: Option<(f64, f64)>,
    extent: Option<(Extent, f64)>,
    store: Option<&'a [u8]>,
    options_at: usize,
}

impl<'a> Leading<'a> {
    fn parse(argv: &Argv<'a>, form: Form, z: Option<&ZSetValue>) -> Result<Self, CmdError> {
        let mut lead = Leading {
            center: None,
            extent: None,
            store: None,
            options_at: 2,
        };
        match form {
            Form::Radius { .. } => {
                lead.center = Some(parse_position(argv.get(2), argv.get(3))?);
                lead.extent = Some(parse_radius(argv.get(4), argv.get(5))?);
                lead.options_at = 6;
            }
            // COMPAT(redis 7.0): without the key, the member and radius go unchecked.
            Form::ByMember { .. } => {
                if let Some(z) = z {
                    lead.center = Some(member_position(z, argv.get(2))?);
                    lead.extent = Some(parse_radius(argv.get(3), argv.get(4))?);
                }
                lead.options_at = 5;
            }
            Form::Search => {}
            Form::SearchStore => {
                lead.store = Some(argv.get(1));
                lead.options_at = 3;
            }
        }
        Ok(lead)
    }
}

impl<'a> Search<'a> {
    /// Parses a search with `z` the source set, if it exists: errors come in Redis's
    /// order, since a member is looked up (and a bad one reported) where it is read.
    fn parse(argv: &Argv<'a>, form: Form, z: Option<&ZSetValue>) -> Result<Self, CmdError> {
        let Leading {
            mut center,
            mut extent,
            store,
            options_at,
        } = Leading::parse(argv, form, z)?;
        let mut s = Search {
            shape: None,
            withdist: false,
            withhash: false,
            withcoord: false,
            sort: Sort::None,
            count: 0,
            any: false,
            store,
            storedist: false,
        };
        let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
            (false, false, false, false);
        let search = form.is_search();
        let mut i = options_at;
        while i < argv.len() {
            let arg = argv.get(i);
            let left = argv.len() - i - 1;
            if keyword_is(arg, "withdist") {
                s.withdist = true;
            } else if keyword_is(arg, "withhash") {
                s.withhash = true;
            } else if keyword_is(arg, "withcoord") {
                s.withcoord = true;
            } else if keyword_is(arg, "any") {
                s.any = true;
            } else if keyword_is(arg, "asc") {
                s.sort = Sort::Asc;
            } else if keyword_is(arg, "desc") {
                s.sort = Sort::Desc;
            } else if keyword_is(arg, "count") && left >= 1 {
                let n = args::int(argv.get(i + 1))?;
                if n <= 0 {
                    return Err(CmdError::err("COUNT must be > 0"));
                }
                s.count = usize::try_from(n).unwrap_or(usize::MAX);
                i += 1;
            } else if (keyword_is(arg, "store") || keyword_is(arg, "storedist"))
                && left >= 1
                && form.store_option()
            {
                s.store = Some(argv.get(i + 1));
                s.storedist = keyword_is(arg, "storedist");
                i += 1;
            } else if keyword_is(arg, "storedist") && form == Form::SearchStore {
                s.storedist = true;
            } else if keyword_is(arg, "frommember") && left >= 1 && search && !from_lonlat {
                // Without the key, parsing goes on and the reply is empty.
                if let Some(z) = z {
                    center = Some(member_position(z, argv.get(i + 1))?);
                }
                from_member = true;
                i += 1;
            } else if keyword_is(arg, "fromlonlat") && left >= 2 && search && !from_member {
                center = Some(parse_position(argv.get(i + 1), argv.get(i + 2))?);
                from_lonlat = true;
                i += 2;
            } else if keyword_is(arg, "byradius") && left >= 2 && search && !by_box {
                extent = Some(parse_radius(argv.get(i + 1), argv.get(i + 2))?);
                by_radius = true;
                i += 2;
            } else if keyword_is(arg, "bybox") && left >= 3 && search && !by_radius {
                let (w, h, unit) = (argv.get(i + 1), argv.get(i + 2), argv.get(i + 3));
                extent = Some(parse_box(w, h, unit)?);
                by_box = true;
                i += 3;
            } else {
                return Err(CmdError::Syntax);
            }
            i += 1;
        }
        let given = (from_member || from_lonlat, by_radius || by_box);
        s.check_combination(argv, form, given)?;
        // Nearest first unless asked otherwise: COUNT keeps the nearest ones (but ANY
        // keeps the first found, unsorted).
        if s.count != 0 && s.sort == Sort::None && !s.any {
            s.sort = Sort::Asc;
        }
        if let (Some((lon, lat)), Some((extent, to_meters))) = (center, extent) {
            s.shape = Some(Shape {
                lon,
                lat,
                extent,
                to_meters,
            });
        }
        Ok(s)
    }

    /// The checks after the options, in Redis's order; `given` says whether a FROM... and
    /// a BY... option were.
    fn check_combination(
        &self,
        argv: &Argv<'_>,
        form: Form,
        (from_given, by_given): (bool, bool),
    ) -> CmdResult {
        if self.store.is_some() && (self.withdist || self.withhash || self.withcoord) {
            let what = if form == Form::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            };
            return Err(CmdError::err(format!(
                "{what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
            )));
        }
        // The command name as the client typed it.
        let name = args::text(argv.get(0));
        if form.is_search() && !from_given {
            return Err(CmdError::err(format!(
                "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
            )));
        }
        if form.is_search() && !by_given {
            return Err(CmdError::err(format!(
                "exactly one of BYRADIUS and BYBOX can be specified for {name}"
            )));
        }
        if self.any && self.count == 0 {
            return Err(CmdError::err("the ANY argument requires COUNT argument"));
        }
        Ok(())
    }
}

/// A member inside the search area.
#[derive(Clone, Copy)]
struct Found<'a> {
    member: &'a [u8],
    score: f64,
    lon: f64,
    lat: f64,
    /// From the center, in meters.
    dist: f64,
}

/// The members of `z` inside `shape`, cell by cell in Redis's order, stopping at
/// `limit` (0: no limit) (behaves like `membersOfAllNeighbors()`).
fn members_inside<'z>(z: &'z ZSetValue, shape: &Shape, limit: usize) -> Vec<Found<'z>> {
    let full = |found: &Vec<Found<'_>>| limit != 0 && found.len() >= limit;
    let mut found = Vec::new();
    let mut last = None;
    for (i, cell) in shape.cells().into_iter().enumerate() {
        let Some(cell) = cell else {
            continue;
        };
        // A huge radius can make neighbours the same cell: visit it once. (Redis compares
        // with the last cell visited after the center.)
        if last == Some(cell) {
            continue;
        }
        if full(&found) {
            break;
        }
        let (min, max) = hash::score_range(cell);
        let range = ScoreRange {
            max_exclusive: true,
            ..ScoreRange::closed(min, max)
        };
        for (member, score) in z.range_by_score(&range) {
            let (lon, lat) = hash::decode_score(score);
            if let Some(dist) = shape.distance_if_inside(lon, lat) {
                found.push(Found {
                    member,
                    score,
                    lon,
                    lat,
                    dist,
                });
            }
            if full(&found) {
                break;
            }
        }
        last = (i > 0).then_some(cell);
    }
    found
}

/// Redis's comparator: greater, equal, else less (so NaN is less both ways).
fn by_distance(a: &Found<'_>, b: &Found<'_>) -> Ordering {
    if a.dist > b.dist {
        Ordering::Greater
    } else if a.dist == b.dist {
        Ordering::Equal
    } else {
        Ordering::Less
    }
}

/// Sorts the results; only the first `n` need to be in place.
fn sort_found(found: &mut [Found<'_>], order: Sort, n: usize) {
    let desc = |a: &Found<'_>, b: &Found<'_>| by_distance(a, b).reverse();
    match (order, n == found.len()) {
        (Sort::None, _) => {}
        (Sort::Asc, true) => sort::merge_sort(found, &by_distance),
        (Sort::Desc, true) => sort::merge_sort(found, &desc),
        (Sort::Asc, false) => partial_sort(found, 0, n as i64 - 1, &by_distance),
        (Sort::Desc, false) => partial_sort(found, 0, n as i64 - 1, &desc),
    }
}

/// The search commands (behaves like `georadiusGeneric()`).
fn search(ctx: &mut Ctx<'_>, argv: &Argv<'_>, form: Form) -> CmdResult {
    let src = argv.get(form.src_index());
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys(form.keys(argv));
    let z = match locked.db(src, db).lookup_read(src, ctx.fx) {
        Some(e) => Some(as_zset(e)?),
        None => None,
    };
    let s = Search::parse(argv, form, z)?;
    let event = if form.is_search() {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    let (Some(z), Some(shape)) = (z, s.shape) else {
        // No source: nothing found, and a STORE deletes its destination.
        match s.store {
            Some(dst) => store_result(ctx, locked.db(dst, db), dst, ZSetValue::new(), event),
            None => ctx.reply.array(0),
        }
        return Ok(());
    };
    let mut found = members_inside(z, &shape, if s.any { s.count } else { 0 });
    let n = if s.count == 0 {
        found.len()
    } else {
        found.len().min(s.count)
    };
    sort_found(&mut found, s.sort, n);
    let found = &found[..n];
    let Some(dst) = s.store else {
        reply_found(ctx.reply, found, &s, shape.to_meters);
        return Ok(());
    };
    let entries: Vec<(SmallBytes, f64)> = found
        .iter()
        .map(|f| {
            let score = if s.storedist {
                f.dist / shape.to_meters
            } else {
                f.score
            };
            (SmallBytes::from_slice(f.member), score)
        })
        .collect();
    let result = ZSetValue::from_entries(entries, &ctx.settings.encoding_limits());
    store_result(ctx, locked.db(dst, db), dst, result, event);
    // COMPAT(redis 7.0): a stored search counts one change per member.
    ctx.fx.dirty += (n as u64).saturating_sub(1);
    Ok(())
}

/// The search results: members, or per member an array with the options asked for.
fn reply_found(r: &mut Reply, found: &[Found<'_>], s: &Search<'_>, to_meters: f64) {
    let extras = [s.withdist, s.withhash, s.withcoord]
        .iter()
        .filter(|&&w| w)
        .count();
    r.array(found.len());
    for f in found {
        if extras > 0 {
            r.array(extras + 1);
        }
        r.bulk(f.member);
        if s.withdist {
            reply_distance(r, f.dist / to_meters);
        }
        if s.withhash {
            // Scores inside a search cell are integers below 2^52.
            r.int(f.score as i64);
        }
        if s.withcoord {
            r.array(2);
            reply_coordinate(r, f.lon);
            reply_coordinate(r, f.lat);
        }
    }
}

fn georadius(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    search(ctx, argv, Form::Radius { store: true })
}

fn georadius_ro(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    search(ctx, argv, Form::Radius { store: false })
}

fn georadiusbymember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    search(ctx, argv, Form::ByMember { store: true })
}

fn georadiusbymember_ro(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    search(ctx, argv, Form::ByMember { store: false })
}

fn geosearch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    search(ctx, argv, Form::Search)
}

fn geosearchstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    search(ctx, argv, Form::SearchStore)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distance_text(d: f64) -> String {
        let mut r = Reply::new(2);
        reply_distance(&mut r, d);
        String::from_utf8(r.buf).unwrap()
    }

    fn coordinate_text(d: f64, resp: u8) -> String {
        let mut r = Reply::new(resp);
        reply_coordinate(&mut r, d);
        String::from_utf8(r.buf).unwrap()
    }

    #[test]
    fn distances_print_with_four_decimals() {
        assert_eq!(distance_text(0.0), "$6\r\n0.0000\r\n");
        assert_eq!(distance_text(-0.0), "$6\r\n0.0000\r\n");
        assert_eq!(distance_text(166274.15156960033), "$11\r\n166274.1516\r\n");
        assert_eq!(distance_text(0.775), "$6\r\n0.7750\r\n");
        assert_eq!(distance_text(0.00005), "$6\r\n0.0000\r\n");
        // Ties round to even: 312.5 and 937.5 ten-thousandths.
        assert_eq!(distance_text(0.03125), "$6\r\n0.0312\r\n");
        assert_eq!(distance_text(0.09375), "$6\r\n0.0938\r\n");
        assert_eq!(distance_text(12.5), "$7\r\n12.5000\r\n");
        assert_eq!(distance_text(f64::NAN), "$21\r\n-922337203685477.5808\r\n");
    }

    #[test]
    fn coordinates_print_like_redis() {
        assert_eq!(
            coordinate_text(13.361389338970184, 2),
            "$20\r\n13.36138933897018433\r\n"
        );
        assert_eq!(coordinate_text(180.0, 3), ",180\r\n");
        assert_eq!(coordinate_text(-0.0, 2), "$1\r\n0\r\n");
        assert_eq!(coordinate_text(-1e-30, 3), ",0\r\n");
        assert_eq!(coordinate_text(0.5, 3), ",0.5\r\n");
    }

    #[test]
    fn c_formats() {
        assert_eq!(c_format(c"%f", 180.0000001), "180.000000");
        assert_eq!(c_format(c"%f", f64::INFINITY), "inf");
        assert_eq!(c_format(c"%f", 1e300).len(), 308);
    }

    #[test]
    fn keywords_stop_at_nul() {
        assert!(keyword_is(b"km\0junk", "km"));
        assert!(keyword_is(b"WithDist", "withdist"));
        assert!(!keyword_is(b"kmx", "km"));
    }
}
