//! Geo commands against redis-server 7.0.15: pseudo-random positions and searches (every
//! shape, unit, order and option, around the whole globe and near the map's edges) with
//! the raw replies compared; and the keyspace events, dirty counts and keyspace
//! hits/misses of each command.

use std::time::{Duration, Instant};

use crate::common::{RawClient, TestServer, assert_same_effects_as_redis, skip_without_redis};
use crate::hll::Stream;

/// Bound on the random run.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// Uniform in [lo, hi).
fn uniform(s: &mut Stream, lo: f64, hi: f64) -> f64 {
    lo + (s.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
}

fn pick<'a>(s: &mut Stream, items: &[&'a str]) -> &'a str {
    items[(s.next() % items.len() as u64) as usize]
}

/// Sends one command to both servers; the raw replies must be identical. Returns it.
fn both(ours: &mut RawClient, theirs: &mut RawClient, args: &[String]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let a = ours.cmd_raw(&args);
    let b = theirs.cmd_raw(&args);
    assert!(
        a == b,
        "{}\n  tessera: {}\n  redis:   {}",
        args.iter()
            .map(|a| String::from_utf8_lossy(a))
            .collect::<Vec<_>>()
            .join(" "),
        String::from_utf8_lossy(&a),
        String::from_utf8_lossy(&b)
    );
    a
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

/// A position: anywhere, or (one time in three) near the corners and the antimeridian,
/// or (one in three) inside a small cluster, so searches find many members.
fn position(s: &mut Stream) -> (f64, f64) {
    match s.next() % 3 {
        0 => (uniform(s, -180.0, 180.0), uniform(s, -85.05, 85.05)),
        1 => {
            let lon = if s.next().is_multiple_of(2) {
                179.0
            } else {
                -180.0
            };
            (lon + uniform(s, 0.0, 1.0), uniform(s, -85.05, 85.05))
        }
        _ => (uniform(s, 2.0, 2.5), uniform(s, 41.0, 41.5)),
    }
}

/// A random search at `center` (FROMLONLAT or FROMMEMBER) with random options.
fn random_search(s: &mut Stream, members: usize) -> Vec<String> {
    let mut args: Vec<String> = vec!["GEOSEARCH".into(), "pts".into()];
    if s.next().is_multiple_of(3) {
        args.extend([
            "FROMMEMBER".into(),
            format!("p{}", s.next() % members as u64),
        ]);
    } else {
        let (lon, lat) = position(s);
        args.extend(["FROMLONLAT".into(), format!("{lon}"), format!("{lat}")]);
    }
    let unit = pick(s, &["m", "km", "ft", "mi"]);
    let scale = match unit {
        "m" => 1000.0,
        "ft" => 3000.0,
        _ => 1.0,
    };
    // Sizes from meters to the whole globe.
    let size = 10f64.powf(uniform(s, -2.0, 4.5)) * scale;
    if s.next().is_multiple_of(2) {
        args.extend(["BYRADIUS".into(), format!("{size}"), unit.into()]);
    } else {
        let height = size * uniform(s, 0.2, 2.0);
        args.extend([
            "BYBOX".into(),
            format!("{size}"),
            format!("{height}"),
            unit.into(),
        ]);
    }
    args.push(pick(s, &["ASC", "DESC", "ASC", "DESC", "WITHHASH"]).into());
    if s.next().is_multiple_of(2) {
        args.extend(["COUNT".into(), format!("{}", 1 + s.next() % 60)]);
    }
    args.extend(["WITHDIST".into(), "WITHCOORD".into()]);
    args
}

#[test]
fn random_searches_match_redis() {
    if skip_without_redis() {
        return;
    }
    let started = Instant::now();
    let tessera = TestServer::tessera(&[]);
    let redis = TestServer::redis(&[]);
    let (mut ours, mut theirs) = (tessera.client(), redis.client());
    let mut s = Stream(0x6e0);
    let members = 600;
    for batch in 0..members / 100 {
        let mut add: Vec<String> = vec!["GEOADD".into(), "pts".into()];
        for i in batch * 100..(batch + 1) * 100 {
            let (lon, lat) = position(&mut s);
            add.extend([format!("{lon}"), format!("{lat}"), format!("p{i}")]);
        }
        both(&mut ours, &mut theirs, &add);
    }
    both(&mut ours, &mut theirs, &words("ZRANGE pts 0 -1 WITHSCORES"));
    let rounds: u32 = 1500;
    let mut found_some = 0;
    for round in 0..rounds {
        assert!(started.elapsed() < TIME_LIMIT, "took too long");
        let search = random_search(&mut s, members);
        if !both(&mut ours, &mut theirs, &search).starts_with(b"*0\r\n") {
            found_some += 1;
        }
        if round.is_multiple_of(10) {
            // The same search stored, with distances or geohashes.
            let mut store: Vec<String> = vec!["GEOSEARCHSTORE".into(), "dst".into()];
            store.extend(search[1..].iter().take_while(|a| *a != "WITHDIST").cloned());
            store.retain(|a| a != "WITHHASH");
            if round.is_multiple_of(20) {
                store.push("STOREDIST".into());
            }
            both(&mut ours, &mut theirs, &store);
            both(&mut ours, &mut theirs, &words("ZRANGE dst 0 -1 WITHSCORES"));
        }
        if round.is_multiple_of(7) {
            let (a, b) = (s.next() % members as u64, s.next() % members as u64);
            let unit = pick(&mut s, &["m", "km", "ft", "mi"]);
            both(
                &mut ours,
                &mut theirs,
                &[
                    "GEODIST".into(),
                    "pts".into(),
                    format!("p{a}"),
                    format!("p{b}"),
                    unit.into(),
                ],
            );
            both(
                &mut ours,
                &mut theirs,
                &[
                    "GEOPOS".into(),
                    "pts".into(),
                    format!("p{a}"),
                    format!("p{b}"),
                ],
            );
            both(
                &mut ours,
                &mut theirs,
                &[
                    "GEOHASH".into(),
                    "pts".into(),
                    format!("p{a}"),
                    format!("p{b}"),
                ],
            );
        }
    }
    // The sizes are spread so that searches find something about half the time.
    assert!(
        found_some > rounds / 4,
        "only {found_some} searches found members"
    );
}

#[test]
fn events_dirty_and_stats_match_redis() {
    if skip_without_redis() {
        return;
    }
    let lines = [
        "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
        "GEOADD g 13.361389 38.115556 Palermo",
        "GEOADD g CH 13 38 Palermo 14 37 Agrigento",
        "GEOADD g XX 1 1 nope",
        "GEOADD nokey XX 1 1 a",
        "GEOADD g 200 1 bad",
        "GEOPOS g Palermo nope",
        "GEOPOS nokey a",
        "GEOHASH g Palermo",
        "GEOHASH nokey a",
        "GEODIST g Palermo Catania",
        "GEODIST nokey a b",
        "GEOSEARCH g FROMMEMBER Palermo BYRADIUS 200 km",
        "GEOSEARCH nokey FROMMEMBER Palermo BYRADIUS 200 km",
        "GEOSEARCHSTORE d1 g FROMLONLAT 15 37 BYRADIUS 200 km",
        "GEOSEARCHSTORE d1 g FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
        "GEOSEARCHSTORE d1 g FROMLONLAT 0 0 BYRADIUS 1 km",
        "GEOSEARCHSTORE d1 g FROMLONLAT 0 0 BYRADIUS 1 km",
        "SET d2 x",
        "GEOSEARCHSTORE d2 nokey FROMLONLAT 0 0 BYRADIUS 1 km",
        "GEORADIUS g 15 37 200 km STORE d3",
        "GEORADIUS g 15 37 200 km COUNT 1 STOREDIST d3",
        "GEORADIUSBYMEMBER g Palermo 300 km STORE d4",
        "GEORADIUSBYMEMBER nokey Palermo 300 km STORE d4",
        "GEORADIUS_RO g 15 37 200 km",
        "SET s x",
        "GEOSEARCH s FROMLONLAT 0 0 BYRADIUS 1 km",
        "GEORADIUS g 15 37 200 km STORE s",
        "GEOADD ttl 1 1 a",
        "PEXPIRE ttl 1",
        "DEBUG SLEEP 0.01",
        "GEOSEARCHSTORE d5 ttl FROMLONLAT 1 1 BYRADIUS 1 km",
    ];
    let split: Vec<Vec<&str>> = lines
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let commands: Vec<&[&str]> = split.iter().map(Vec::as_slice).collect();
    assert_same_effects_as_redis(&commands);
}
