//! The shape tree files have in practice, read without serde: keys and ids without escapes,
//! sizes as plain integers, unknown keys holding a string or an integer.
//!
//! Anything else (an escape, a `null`, a nested value under an unknown key, a sign, fraction or
//! exponent, a repeated field, bad syntax) gives `None`, and serde_json reads the file as it
//! always did, so unusual files and every error keep serde's exact behaviour. Why: a one-shot
//! scan reads every tree file of the cache beside the walk, on CPUs the walk needs, and
//! serde_json took 3.5 ms for the medium benchmark's 117 files (1.3 MB).

use std::borrow::Cow;

use super::{Pending, RawFile, Text, pending};

/// `format_version` and `files` as serde would give them, when the file has the usual shape.
pub(super) type Quick = (Option<u64>, Option<Vec<Pending>>);

pub(super) fn parse(json: &str) -> Option<Quick> {
    let mut c = Cursor { json, at: 0 };
    let (mut version, mut files) = (None, None);
    c.object(|c, key| match key {
        "format_version" => set(&mut version, c.integer()?),
        "files" => set(&mut files, entries(c)?),
        _ => c.skip(),
    })?;
    c.space();
    (c.at == json.len()).then_some((version, files))
}

/// The `files` object, in the file's order.
fn entries(c: &mut Cursor<'_>) -> Option<Vec<Pending>> {
    let mut files = Vec::new();
    c.object(|c, path| {
        files.push(pending(path, entry(c)?));
        Some(())
    })?;
    Some(files)
}

fn entry<'a>(c: &mut Cursor<'a>) -> Option<RawFile<'a>> {
    let mut f = RawFile {
        size: None,
        blob_id: None,
        lfs_sha256: None,
        lfs_size: None,
    };
    let text = |s: &'a str| Text(Cow::Borrowed(s));
    c.object(|c, key| match key {
        "size" => set(&mut f.size, c.integer()?),
        "blob_id" => set(&mut f.blob_id, text(c.string()?)),
        "lfs_sha256" => set(&mut f.lfs_sha256, text(c.string()?)),
        "lfs_size" => set(&mut f.lfs_size, c.integer()?),
        _ => c.skip(),
    })?;
    Some(f)
}

/// A field's value; a repeated field is serde's error to report.
fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// Where the first `"`, `\\` or control character in `s` is. Eight bytes at a time: the tree
/// files are mostly 40- and 64-digit ids, and a loop over bytes was a third of the parse.
fn special(s: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut words = s.chunks_exact(8);
    for (i, w) in words.by_ref().enumerate() {
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        // A high bit per byte that is `"`, `\\` or below 0x20; past the first such byte a
        // borrow may set more, so only the lowest counts.
        let hits = zero_byte(w ^ (ONES * u64::from(b'"')))
            | zero_byte(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if hits != 0 {
            return Some(i * 8 + hits.trailing_zeros() as usize / 8);
        }
    }
    let rest = words.remainder();
    let at = rest
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    Some(s.len() - rest.len() + at)
}

struct Cursor<'a> {
    json: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.json.as_bytes()
    }

    /// Skip JSON whitespace and return the next byte.
    fn peek(&mut self) -> Option<u8> {
        self.space();
        self.bytes().get(self.at).copied()
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.at += 1)
    }

    /// A string with no escape and no control character, borrowed from the file.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let end = start + special(&self.bytes()[start..])?;
        if self.bytes()[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        // Both ends sit next to an ASCII quote, so they are character boundaries.
        self.json.get(start..end)
    }

    /// A non-negative integer as JSON writes it (no leading zero) that fits a `u64`.
    fn integer(&mut self) -> Option<u64> {
        self.space();
        let start = self.at;
        while let Some(b'0'..=b'9') = self.bytes().get(self.at) {
            self.at += 1;
        }
        let digits = &self.json[start..self.at];
        let more = matches!(self.bytes().get(self.at), Some(b'.' | b'e' | b'E'));
        if more || digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
            return None;
        }
        digits.parse().ok()
    }

    /// An unknown key's value, when it is a string or an integer.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            _ => self.integer().map(drop),
        }
    }

    /// An object, `member` reading each value after its key.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            member(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Read = (Option<u64>, Option<Vec<(String, String, u64)>>);

    fn read(json: &str) -> Option<Read> {
        let (v, files) = parse(json)?;
        let files = files.map(|f| {
            f.into_iter()
                .map(|p| (p.entry.path().into(), p.entry.etag().into(), p.entry.size))
                .collect()
        });
        Some((v, files))
    }

    proptest::proptest! {
        /// The word-at-a-time search finds what a byte loop finds, wherever the bytes sit.
        #[test]
        fn special_finds_the_first_quote_backslash_or_control(
            s in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![b'"', b'\\', 0, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xff]),
                    proptest::num::u8::ANY,
                ],
                0..40,
            ),
        ) {
            let naive = s.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            proptest::prop_assert_eq!(special(&s), naive);
        }
    }

    /// What `huggingface_hub` writes (`json.dump` with its default separators) is read here,
    /// not handed to serde: the speed-up depends on it.
    #[test]
    fn the_writers_output_is_read_without_serde() {
        let json = r#"{"files": {"README.md": {"blob_id": "05aa", "size": 1696}, "m.safetensors": {"blob_id": "dfe5", "lfs_sha256": "dfe5d87e", "lfs_size": 824019, "size": 134, "xet_hash": "082f"}}, "format_version": 1}"#;
        let files = vec![
            ("README.md".into(), "05aa".into(), 1696),
            ("m.safetensors".into(), "dfe5d87e".into(), 824019),
        ];
        assert_eq!(read(json), Some((Some(1), Some(files))));
        let spaced = "\n{ \"format_version\" :1 ,\t\"files\":{ } }\r\n";
        assert_eq!(read(spaced), Some((Some(1), Some(vec![]))));
    }

    #[test]
    fn anything_unusual_is_left_to_serde() {
        for json in [
            r#"{"format_version": 1, "files": {"a\u00e9": {"size": 1, "blob_id": "b"}}}"#,
            r#"{"format_version": 1, "files": {"a": {"size": 1, "blob_id": null}}}"#,
            r#"{"format_version": 1, "files": {"a": {"size": 1.0, "blob_id": "b"}}}"#,
            r#"{"format_version": 1, "files": {"a": {"size": 1e3, "blob_id": "b"}}}"#,
            r#"{"format_version": 1, "files": {"a": {"size": -1, "blob_id": "b"}}}"#,
            r#"{"format_version": 1, "files": {"a": {"size": 01, "blob_id": "b"}}}"#,
            r#"{"format_version": 1, "files": {"a": {"size": 1, "size": 2, "blob_id": "b"}}}"#,
            r#"{"format_version": 1, "files": {"a": {"size": 1, "blob_id": "b", "x": [1]}}}"#,
            r#"{"format_version": 1, "files": {"a": {"size": 18446744073709551616}}}"#,
            r#"{"format_version": 1, "format_version": 1, "files": {}}"#,
            r#"{"format_version": 1, "files": {}} x"#,
            r#"{"format_version": 1, "files": {},}"#,
            r#"{"format_version": 1, "files": {"a": {"blob_id": "tab	in"}}}"#,
            "\u{feff}{\"format_version\": 1, \"files\": {}}",
            r#"{"format_version": 1, "files": []}"#,
            r#"{"format_version": 1, "files": {}"#,
            "",
        ] {
            assert!(read(json).is_none(), "{json}");
        }
    }
}
