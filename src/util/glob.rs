//! Glob-style matching for KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET and friends.
//!
//! Matches what Redis's `stringmatchlen()` matches: `*`, `?`, `[...]` with ranges and `^`,
//! `\` escapes, optional case folding, with Redis's treatment of malformed patterns (an
//! unterminated class, a trailing backslash). Unlike Redis 7.0's recursive version it runs
//! in a loop that backtracks only to the last `*`: no stack growth with the number of stars
//! (a 100,000-star pattern cannot overflow a thread's stack), and O(pattern × string) time.

/// Whether `string` matches `pattern`.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    // COMPAT(redis 7.0): an empty string matches only the empty pattern, not even `*`
    // (stringmatchlen's loop never runs); KEYS and SCAN special-case a bare `*` themselves.
    if string.is_empty() {
        return pattern.is_empty();
    }
    let (mut p, mut s) = (0usize, 0usize);
    // Where to resume after the last `*`: the pattern just past it, and the next string
    // position that star will swallow.
    let mut backtrack: Option<(usize, usize)> = None;
    while s < string.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            backtrack = Some((p, s));
            continue;
        }
        if p < pattern.len()
            && let Some(next_p) = match_one(pattern, p, string[s], nocase)
        {
            p = next_p;
            s += 1;
            continue;
        }
        match backtrack {
            Some((star_p, star_s)) => {
                p = star_p;
                s = star_s + 1;
                backtrack = Some((star_p, s));
            }
            None => return false,
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

#[inline]
fn fold(c: u8, nocase: bool) -> u8 {
    if nocase { c.to_ascii_lowercase() } else { c }
}

/// Matches the pattern token at `p` (not `*`) against byte `c`; returns the position after
/// the token on a match.
fn match_one(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<usize> {
    match pattern[p] {
        b'?' => Some(p + 1),
        b'[' => match_class(pattern, p + 1, c, nocase),
        b'\\' if p + 1 < pattern.len() => {
            (fold(pattern[p + 1], nocase) == fold(c, nocase)).then_some(p + 2)
        }
        other => (fold(other, nocase) == fold(c, nocase)).then_some(p + 1),
    }
}

/// Matches a `[...]` class starting just after its `[`; returns the position after its `]`
/// (or after the pattern's end for an unterminated class, as Redis treats it).
fn match_class(pattern: &[u8], mut i: usize, c: u8, nocase: bool) -> Option<usize> {
    let not = pattern.get(i) == Some(&b'^');
    if not {
        i += 1;
    }
    let mut matched = false;
    loop {
        match pattern.get(i) {
            None => break,
            Some(b']') => {
                i += 1;
                break;
            }
            Some(b'\\') if i + 1 < pattern.len() => {
                if pattern[i + 1] == c {
                    matched = true;
                }
                i += 2;
            }
            Some(&lo) if i + 2 < pattern.len() && pattern[i + 1] == b'-' => {
                let hi = pattern[i + 2];
                let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
                let (lo, hi, cc) = (fold(lo, nocase), fold(hi, nocase), fold(c, nocase));
                if cc >= lo && cc <= hi {
                    matched = true;
                }
                i += 3;
            }
            Some(&other) => {
                if fold(other, nocase) == fold(c, nocase) {
                    matched = true;
                }
                i += 1;
            }
        }
    }
    (matched != not).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Redis 7.0's recursive algorithm, kept as the reference the loop must agree with.
    fn reference(p: &[u8], s: &[u8], nocase: bool) -> bool {
        fn at(s: &[u8], i: usize) -> u8 {
            s.get(i).copied().unwrap_or(0)
        }
        fn go(mut p: &[u8], mut s: &[u8], nocase: bool, skip: &mut bool) -> bool {
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
                            if go(&p[1..], s, nocase, skip) {
                                return true;
                            }
                            if *skip {
                                return false;
                            }
                            s = &s[1..];
                        }
                        *skip = true;
                        return false;
                    }
                    b'?' => s = &s[1..],
                    b'[' => {
                        p = &p[1..];
                        let not = at(p, 0) == b'^';
                        if not {
                            p = &p[1..];
                        }
                        let c = s[0];
                        let mut m = false;
                        let mut i = 0usize;
                        loop {
                            if at(p, i) == b'\\' && p.len() >= i + 2 {
                                i += 1;
                                if at(p, i) == c {
                                    m = true;
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
                                let (lo, hi, cc) =
                                    (fold(lo, nocase), fold(hi, nocase), fold(c, nocase));
                                i += 2;
                                if cc >= lo && cc <= hi {
                                    m = true;
                                }
                            } else if fold(at(p, i), nocase) == fold(c, nocase) {
                                m = true;
                            }
                            i += 1;
                        }
                        if not {
                            m = !m;
                        }
                        if !m {
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
        let mut skip = false;
        go(p, s, nocase, &mut skip)
    }

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
            ("a\\", "a\\", true),
            ("*a\\", "xa\\", true),
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

    #[test]
    fn many_stars_do_not_recurse() {
        let pattern = [b"*?".repeat(100_000), b"b".to_vec()].concat();
        assert!(!glob_match(&pattern, &vec![b'a'; 100_000], false));
    }

    proptest! {
        /// Same answers as Redis's algorithm on a small alphabet that hits every token.
        #[test]
        fn agrees_with_redis(p in "[ab*?\\[\\]^\\\\-]{0,10}", s in "[ab\\]\\\\-]{0,10}", nocase in any::<bool>()) {
            prop_assert_eq!(
                glob_match(p.as_bytes(), s.as_bytes(), nocase),
                reference(p.as_bytes(), s.as_bytes(), nocase),
                "pattern {:?} string {:?}", p, s
            );
        }
    }
}
