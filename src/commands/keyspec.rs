//! Finding the keys of a command from its key specs (behaves like Redis's
//! `getKeysUsingKeySpecs()`). Used by COMMAND GETKEYS and, in cluster mode, by slot routing.

use super::meta::{Begin, CommandMeta, Find, KeyFlags};
use crate::protocol::Argv;
use crate::protocol::parse::parse_i64;

/// One key argument: its position in argv and the spec's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef {
    pub pos: usize,
    pub flags: KeyFlags,
}

/// The keys of `argv` (name included at index 0), or `None` when the arguments do not fit
/// the specs (Redis then reports "Invalid arguments specified for command").
pub fn find_keys(meta: &CommandMeta, argv: &Argv<'_>) -> Option<Vec<KeyRef>> {
    find_keys_with(meta, argv, false)
}

/// [`find_keys`], also taking the arguments of specs flagged `NOT_KEY` when asked: shard
/// channels route like keys in cluster mode (Redis reaches them through the commands'
/// getkeys functions).
pub fn find_keys_with(
    meta: &CommandMeta,
    argv: &Argv<'_>,
    include_not_keys: bool,
) -> Option<Vec<KeyRef>> {
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for spec in meta.key_specs {
        if spec.flags.contains(KeyFlags::NOT_KEY) && !include_not_keys {
            continue;
        }
        // 1. Where the keys start.
        let first = match spec.begin {
            Begin::Index(pos) => pos as i64,
            Begin::Keyword { keyword, startfrom } => {
                let start = if startfrom > 0 {
                    startfrom as i64
                } else {
                    argc + startfrom as i64
                };
                let forward = startfrom > 0;
                let mut found = None;
                let mut i = start;
                while i >= 1 && i < argc {
                    if argv
                        .get(i as usize)
                        .eq_ignore_ascii_case(keyword.as_bytes())
                    {
                        found = Some(i + 1);
                        break;
                    }
                    i += if forward { 1 } else { -1 };
                }
                match found {
                    Some(f) => f,
                    None => continue,
                }
            }
            Begin::Unknown => return None,
        };
        // 2. Where they end: last = first + lastkey, from the end, or a count argument.
        let (first, last, step) = match spec.find {
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey as i64
                } else if limit == 0 {
                    argc + lastkey as i64
                } else {
                    first + ((argc - first) / limit as i64 + lastkey as i64)
                };
                (first, last, keystep as i64)
            }
            Find::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let idx = first + keynumidx as i64;
                if idx >= argc || idx < 1 {
                    return None;
                }
                let n = parse_i64(argv.get(idx as usize)).filter(|n| *n >= 0)?;
                let f = first + firstkey as i64;
                // A client-supplied count: no overflow, however large.
                (f, f.checked_add(n)?.checked_sub(1)?, keystep as i64)
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc || step <= 0 {
            // An empty key range (e.g. numkeys 0) is "no keys", anything else invalid.
            if last == first - 1 {
                continue;
            }
            return None;
        }
        let mut i = first;
        while i <= last {
            keys.push(KeyRef {
                pos: i as usize,
                flags: spec.flags,
            });
            i += step;
        }
        if spec.flags.contains(KeyFlags::INCOMPLETE) {
            return None;
        }
    }
    adjust_variable_flags(meta, argv, &mut keys);
    Some(keys)
}

/// Commands whose key flags depend on their arguments (specs flagged `variable_flags`)
/// report the flags of this call, as their getkeys procedures do in Redis.
fn adjust_variable_flags(meta: &CommandMeta, argv: &Argv<'_>, keys: &mut [KeyRef]) {
    let has = |word: &str| {
        argv.iter()
            .skip(2)
            .any(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    let flags = match meta.name {
        // setGetKeys(): only SET ... GET reads the old value.
        "set" if has("get") => KeyFlags::RW | KeyFlags::ACCESS | KeyFlags::UPDATE,
        "set" => KeyFlags::OW | KeyFlags::UPDATE,
        // bitfieldGetKeys(): read-only unless a SET or INCRBY subcommand is present.
        "bitfield" if has("set") || has("incrby") => {
            KeyFlags::RW | KeyFlags::ACCESS | KeyFlags::UPDATE
        }
        "bitfield" => KeyFlags::RO | KeyFlags::ACCESS,
        _ => return,
    };
    for k in keys {
        k.flags = flags;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::meta_data::COMMANDS;
    use crate::protocol::OwnedArgv;

    fn keys_of(line: &str) -> Option<Vec<String>> {
        let argv = OwnedArgv::from_slices(line.split(' ').map(str::as_bytes));
        let name = line.split(' ').next().unwrap_or("").to_ascii_lowercase();
        let meta = COMMANDS.iter().find(|c| c.name == name)?;
        let a = argv.argv();
        find_keys(meta, &a).map(|k| {
            k.iter()
                .map(|r| String::from_utf8_lossy(a.get(r.pos)).into_owned())
                .collect()
        })
    }

    #[test]
    fn ranges_keynums_and_keywords() {
        assert_eq!(keys_of("get k"), Some(vec!["k".into()]));
        assert_eq!(keys_of("mset a 1 b 2"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(
            keys_of("del a b c"),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            keys_of("sintercard 2 x y LIMIT 1"),
            Some(vec!["x".into(), "y".into()])
        );
        assert_eq!(keys_of("sintercard 5 x"), None);
        assert_eq!(keys_of("sintercard 9223372036854775807 x"), None);
        assert_eq!(
            keys_of("eval s 2 k1 k2 a"),
            Some(vec!["k1".into(), "k2".into()])
        );
    }
}
