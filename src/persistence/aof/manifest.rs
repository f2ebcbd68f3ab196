//! The multi-part AOF manifest (behaves like Redis 7.0's `aofLoadManifestFromFile()` and
//! `getAofManifestAsString()`): one line per file, `file <name> seq <n> type <b|h|i>`; the
//! base first, then history files, then the incr files in ascending sequence.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::protocol::parse::split_args;
use crate::util::repr::repr;

/// What a file in the AOF directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// The snapshot the incr files continue (RDB or RESP).
    Base,
    /// Replaced by a rewrite; deleted when the manifest is next saved.
    History,
    /// Commands appended after the base.
    Incr,
}

impl FileKind {
    fn letter(self) -> char {
        match self {
            FileKind::Base => 'b',
            FileKind::History => 'h',
            FileKind::Incr => 'i',
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: u64,
    pub kind: FileKind,
}

/// The files of a multi-part AOF.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub history: Vec<AofFile>,
    pub incrs: Vec<AofFile>,
}

/// A manifest that cannot be read: the reason, and the offending line if any (1-based).
#[derive(Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub line: Option<(usize, String)>,
    pub reason: &'static str,
}

/// Longest manifest line Redis reads (`MANIFEST_MAX_LINE`).
const MAX_LINE: usize = 1024;

impl Manifest {
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::default();
        let mut rest = text;
        let mut line_no = 0;
        if text.is_empty() {
            return Err(ManifestError {
                line: None,
                reason: "Found an empty AOF manifest",
            });
        }
        while !rest.is_empty() {
            line_no += 1;
            let Some(end) = memchr::memchr(b'\n', rest).filter(|&e| e < MAX_LINE) else {
                return Err(ManifestError {
                    line: Some((
                        line_no,
                        String::from_utf8_lossy(&rest[..rest.len().min(MAX_LINE)]).into_owned(),
                    )),
                    reason: "The AOF manifest file contains too long line",
                });
            };
            let raw = &rest[..end];
            rest = &rest[end + 1..];
            if raw.first() == Some(&b'#') {
                continue;
            }
            let trimmed = String::from_utf8_lossy(raw)
                .trim_matches([' ', '\t', '\r', '\n'])
                .to_string();
            let fail = |reason| ManifestError {
                line: Some((line_no, trimmed.clone())),
                reason,
            };
            let file = parse_line(trimmed.as_bytes()).map_err(fail)?;
            match file.kind {
                FileKind::Base if m.base.is_some() => {
                    return Err(fail("Found duplicate base file information"));
                }
                FileKind::Base => m.base = Some(file),
                FileKind::History => m.history.push(file),
                FileKind::Incr => {
                    if m.incrs.last().is_some_and(|last| file.seq <= last.seq) {
                        return Err(fail("Found a non-monotonic sequence number"));
                    }
                    m.incrs.push(file);
                }
            }
        }
        Ok(m)
    }

    /// The manifest's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in self.base.iter().chain(&self.history).chain(&self.incrs) {
            out.push_str(&format!(
                "file {} seq {} type {}\n",
                quote_if_needed(&f.name),
                f.seq,
                f.kind.letter()
            ));
        }
        out
    }

    /// Writes the manifest as `name` in `dir`: a temporary file, synced, renamed over the
    /// old one, and the directory synced (behaves like `writeAofManifestFile()`).
    pub fn save(&self, dir: &Path, name: &str) -> std::io::Result<()> {
        let temp = dir.join(format!("temp-{name}"));
        let mut f = File::create(&temp)?;
        f.write_all(self.render().as_bytes())?;
        f.sync_data()?;
        std::fs::rename(&temp, dir.join(name))?;
        File::open(dir)?.sync_all()
    }

    /// The last base sequence number, or 0.
    pub fn base_seq(&self) -> u64 {
        self.base.as_ref().map_or(0, |b| b.seq)
    }

    /// The sequence number of the last incr file, or 0 (history files do not count, so
    /// the numbering restarts at 1 when no incr file is listed, as in Redis).
    pub fn incr_seq(&self) -> u64 {
        self.incrs.last().map_or(0, |i| i.seq)
    }

    /// Adds a new incr file after the others and returns its name.
    pub fn add_incr(&mut self, prefix: &str) -> String {
        let seq = self.incr_seq() + 1;
        let name = format!("{prefix}.{seq}.incr.aof");
        self.incrs.push(AofFile {
            name: name.clone(),
            seq,
            kind: FileKind::Incr,
        });
        name
    }

    /// Installs a new base (the old one becomes history) and returns its name.
    pub fn new_base(&mut self, prefix: &str, rdb: bool) -> String {
        let seq = self.base_seq() + 1;
        let name = format!("{prefix}.{seq}.base.{}", if rdb { "rdb" } else { "aof" });
        if let Some(mut old) = self.base.take() {
            old.kind = FileKind::History;
            self.history.insert(0, old);
        }
        self.base = Some(AofFile {
            name: name.clone(),
            seq,
            kind: FileKind::Base,
        });
        name
    }

    /// Turns every incr file but the last `keep` into history, each put first in the
    /// history list as Redis adds them (so the newest comes first).
    pub fn retire_incrs(&mut self, keep: usize) {
        let retire = self.incrs.len().saturating_sub(keep);
        for mut f in self.incrs.drain(..retire) {
            f.kind = FileKind::History;
            self.history.insert(0, f);
        }
    }
}

fn parse_line(line: &[u8]) -> Result<AofFile, &'static str> {
    const INVALID: &str = "Invalid AOF manifest file format";
    if line.is_empty() {
        return Err(INVALID);
    }
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    if !split_args(line, &mut buf, &mut ranges) || ranges.len() < 6 || ranges.len() % 2 != 0 {
        return Err(INVALID);
    }
    let args: Vec<&[u8]> = ranges.iter().map(|r| &buf[r.clone()]).collect();
    let (mut name, mut seq, mut kind) = (None, None, None);
    for pair in args.chunks_exact(2) {
        let (key, value) = (pair[0], pair[1]);
        if key.eq_ignore_ascii_case(b"file") {
            if value.contains(&b'/') {
                return Err("File can't be a path, just a filename");
            }
            name = Some(String::from_utf8_lossy(value).into_owned());
        } else if key.eq_ignore_ascii_case(b"seq") {
            seq = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok());
        } else if key.eq_ignore_ascii_case(b"type") {
            kind = Some(match value.first() {
                Some(b'b') => FileKind::Base,
                Some(b'h') => FileKind::History,
                Some(b'i') => FileKind::Incr,
                _ => return Err("Unknown AOF file type"),
            });
        }
        // Other keys are ignored: later versions may add some.
    }
    match (name, seq, kind) {
        (Some(name), Some(seq), Some(kind)) if seq > 0 => Ok(AofFile { name, seq, kind }),
        _ => Err(INVALID),
    }
}

/// A name with spaces, quotes or control characters is written quoted with C escapes.
fn quote_if_needed(name: &str) -> String {
    let needs = name
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b));
    if !needs {
        return name.to_string();
    }
    let mut out = Vec::with_capacity(name.len() + 2);
    repr(&mut out, name.as_bytes());
    // repr emits ASCII only.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_redis_manifests() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type h\n\
                    file appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text.as_bytes()).expect("valid");
        assert_eq!(m.base_seq(), 2);
        assert_eq!(m.incr_seq(), 2);
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.render(), text);
        let quoted = Manifest {
            base: Some(AofFile {
                name: " file seq \n\n.aof .2.base.rdb".into(),
                seq: 2,
                kind: FileKind::Base,
            }),
            ..Manifest::default()
        };
        let rendered = quoted.render();
        assert_eq!(
            rendered,
            "file \" file seq \\n\\n.aof .2.base.rdb\" seq 2 type b\n"
        );
        assert_eq!(Manifest::parse(rendered.as_bytes()), Ok(quoted));
    }

    #[test]
    fn rejects_what_redis_rejects() {
        let reason = |t: &str| {
            Manifest::parse(t.as_bytes())
                .map(|_| ())
                .map_err(|e| e.reason)
        };
        assert_eq!(reason(""), Err("Found an empty AOF manifest"));
        assert_eq!(
            reason("file a seq 1 type b"),
            Err("The AOF manifest file contains too long line")
        );
        assert_eq!(reason("\n"), Err("Invalid AOF manifest file format"));
        assert_eq!(
            reason("file a seq 0 type b\n"),
            Err("Invalid AOF manifest file format")
        );
        assert_eq!(
            reason("file a seq 1\n"),
            Err("Invalid AOF manifest file format")
        );
        assert_eq!(
            reason("file d/a seq 1 type b\n"),
            Err("File can't be a path, just a filename")
        );
        assert_eq!(
            reason("file a seq 1 type x\n"),
            Err("Unknown AOF file type")
        );
        assert_eq!(
            reason("file a seq 1 type b\nfile b seq 2 type b\n"),
            Err("Found duplicate base file information")
        );
        assert_eq!(
            reason("file a seq 2 type i\nfile b seq 2 type i\n"),
            Err("Found a non-monotonic sequence number")
        );
        assert_eq!(
            reason("# comment\nfile a seq 1 type b extra value\n"),
            Ok(())
        );
    }

    #[test]
    fn rewrites_move_files_to_history() {
        let mut m = Manifest::default();
        assert_eq!(
            m.new_base("appendonly.aof", true),
            "appendonly.aof.1.base.rdb"
        );
        assert_eq!(m.add_incr("appendonly.aof"), "appendonly.aof.1.incr.aof");
        assert_eq!(m.add_incr("appendonly.aof"), "appendonly.aof.2.incr.aof");
        assert_eq!(
            m.new_base("appendonly.aof", true),
            "appendonly.aof.2.base.rdb"
        );
        m.retire_incrs(1);
        assert_eq!(
            m.render(),
            "file appendonly.aof.2.base.rdb seq 2 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.1.base.rdb seq 1 type h\n\
             file appendonly.aof.2.incr.aof seq 2 type i\n"
        );
    }
}
