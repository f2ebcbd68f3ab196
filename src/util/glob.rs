//! Glob-style matching for KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET and friends.
//!
//! Behaves like Redis's `stringmatchlen()`: `*`, `?`, `[...]` with ranges and `^`, `\`
//! escapes, optional case folding, and the same early exit that keeps patterns such as
//! `a*a*a*a*...b` from taking exponential time.

/// Whether `string` matches `pattern`.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer)
}

/// Byte `i` of `s`, or 0 past the end (Redis reads the NUL terminator there).
#[inline]
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

#[inline]
fn fold(c: u8, nocase: bool) -> u8 {
    if nocase { c.to_ascii_lowercase() } else { c }
}

fn match_impl(mut p: &[u8], mut s: &[u8], nocase: bool, skip_longer: &mut bool) -> bool {
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_impl(&p[1..], s, nocase, skip_longer) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                // Nothing after this `*` matched anywhere in the rest of the string, so no
                // earlier `*` can help by matching more: stop the whole search.
                *skip_longer = true;
                return false;
            }
            b'?' => {
                s = &s[1..];
            }
            b'[' => {
                p = &p[1..];
                let not = at(p, 0) == b'^';
                if not {
                    p = &p[1..];
                }
                let c = s[0];
                let mut matched = false;
                // `i` walks the class; it may step one past the end, as Redis does.
                let mut i = 0usize;
                loop {
                    if at(p, i) == b'\\' && p.len() >= i + 2 {
                        i += 1;
                        if at(p, i) == c {
                            matched = true;
                        }
                    } else if at(p, i) == b']' {
                        break;
                    } else if i >= p.len() {
                        i = i.saturating_sub(1);
                        break;
                    } else if p.len() >= i + 3 && at(p, i + 1) == b'-' {
                        let (mut lo, mut hi) = (at(p, i), at(p, i + 2));
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        let (lo, hi, cc) = (fold(lo, nocase), fold(hi, nocase), fold(c, nocase));
                        i += 2;
                        if cc >= lo && cc <= hi {
                            matched = true;
                        }
                    } else if fold(at(p, i), nocase) == fold(c, nocase) {
                        matched = true;
                    }
                    i += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
                p = &p[i.min(p.len())..];
            }
            b'\\' => {
                if p.len() >= 2 {
                    p = &p[1..];
                }
                if fold(p[0], nocase) != fold(s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
            other => {
                if fold(other, nocase) != fold(s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = if p.is_empty() { p } else { &p[1..] };
        if s.is_empty() {
            while !p.is_empty() && p[0] == b'*' {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_glob_cases() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "anything", true),
            ("h?llo", "hello", true),
            ("h*llo", "heeeello", true),
            ("h[ae]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("foo*", "foo", true),
            ("*bar", "foobar", true),
            (
                "a*a*a*a*a*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
            ("[abc", "a", true),
            ("", "", true),
            ("a", "", false),
            ("user:*", "user:1000", true),
        ];
        for (p, s, want) in cases {
            assert_eq!(
                glob_match(p.as_bytes(), s.as_bytes(), false),
                *want,
                "{p} ~ {s}"
            );
        }
        assert!(glob_match(b"HELLO", b"hello", true));
        assert!(!glob_match(b"HELLO", b"hello", false));
    }
}
