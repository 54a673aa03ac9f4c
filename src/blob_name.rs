//! What a name in a repo's `blobs/` folder is: a finished blob, a temp download file of one
//! of the known clients, an hf-hub lock, or something else. Pure, so the scan never guesses.
//!
//! Temp names (hf-cache.md §8): huggingface_hub ≥ 1.18 `<etag>.<8hex>.incomplete`, older
//! `<etag>.incomplete`; hf-hub 0.4 `<etag>.part` (sync) and `<etag>.sync.part` (tokio,
//! preallocated and sparse). hf-hub 0.4 also keeps `<etag>.lock` files beside the blobs.

/// Which client wrote a temp file; `.sync.part` is preallocated, so its apparent size lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempKind {
    Incomplete,
    Part,
    SyncPart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobName<'a> {
    /// A finished blob, named by its etag.
    Blob { etag: &'a str },
    /// A download in progress (or left behind) for `etag`.
    Temp { etag: &'a str, kind: TempKind },
    /// An hf-hub 0.4 lock file: not content.
    Lock,
    /// Probes, shared-store temporaries (`.<etag>.<8hex>.shared`), `tmp_<uuid>`, anything else.
    Other,
}

/// Classify a file name found directly in `R/blobs/`.
pub fn classify(name: &str) -> BlobName<'_> {
    if let Some(stem) = name.strip_suffix(".incomplete") {
        return temp(strip_hex8(stem), TempKind::Incomplete);
    }
    if let Some(stem) = name.strip_suffix(".sync.part") {
        return temp(stem, TempKind::SyncPart);
    }
    if let Some(stem) = name.strip_suffix(".part") {
        // hf-hub 0.4.0 wrote `<etag>..part`; match `*.part` so those are caught too.
        return temp(stem.trim_end_matches('.'), TempKind::Part);
    }
    if name.ends_with(".lock") {
        return BlobName::Lock;
    }
    if is_etag(name) {
        BlobName::Blob { etag: name }
    } else {
        BlobName::Other
    }
}

/// Whether `classify` could say anything but `Blob` or `Other`: it ends in one of the suffixes
/// `classify` looks for (`.sync.part` ends in `.part`). Lets the walk skip classifying the common
/// case, and looks at the name's end only: this runs for every name in a `blobs/` folder, where
/// scanning whole names for a dot (twice per name) was a fifth of a large cache's user-space
/// instructions.
pub fn has_suffix(name: &[u8]) -> bool {
    name.ends_with(b".incomplete") || name.ends_with(b".part") || name.ends_with(b".lock")
}

/// Does this name end in a temp-download suffix? Used where only the count matters.
pub fn is_temp(name: &str) -> bool {
    matches!(classify(name), BlobName::Temp { .. })
}

fn temp(etag: &str, kind: TempKind) -> BlobName<'_> {
    BlobName::Temp { etag, kind }
}

/// `<etag>.<8 hex>` → `<etag>`: the per-process suffix huggingface_hub ≥ 1.18 adds.
fn strip_hex8(stem: &str) -> &str {
    match stem.rsplit_once('.') {
        Some((etag, suffix))
            if suffix.len() == 8 && suffix.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            etag
        }
        _ => stem,
    }
}

/// Etags are sha256 (LFS/Xet, 64 hex) or git sha1 (40 hex); accept any plain token without
/// dots or a leading dot so that future hash lengths still count as blobs.
fn is_etag(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.starts_with("tmp")
        && name.bytes().fold(true, |ok, b| ok & etag_byte(b))
}

/// `b` is ASCII alphanumeric, `-` or `_`. Bitwise, with no early exit: `is_etag` runs for
/// every blob name of a tracked repo, and hex digits and letters alternate at random, so a
/// branch per byte was mispredicted about half the time (1.3 % of a medium scan's CPU).
/// Without branches the loop vectorizes.
fn etag_byte(b: u8) -> bool {
    let digit = b.wrapping_sub(b'0') < 10;
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    digit | letter | (b == b'-') | (b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "4a9a5b1a4d6dcb47e8b5b4c0c2f1d8ef5e7cba3d1b6f7a0c9e8d7c6b5a4f3e2d";

    /// `has_suffix` is exactly "classify may say Temp or Lock", so the walk's fast path never
    /// hides a temp file or a lock.
    #[test]
    fn has_suffix_is_what_makes_a_temp_or_a_lock() {
        let names = [
            SHA,
            "x.incomplete",
            "x.0123abcd.incomplete",
            "x.part",
            "x..part",
            "x.sync.part",
            "x.lock",
            ".probe",
            "tmp_123",
            "x.incomplete.bak",
            "x.partial",
            "x.locked",
            "incomplete",
            ".part",
        ];
        for n in names {
            let special = matches!(classify(n), BlobName::Temp { .. } | BlobName::Lock);
            assert_eq!(special, has_suffix(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn etag_bytes_are_ascii_alphanumerics_dash_and_underscore() {
        for b in 0..=u8::MAX {
            let want = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            assert_eq!(etag_byte(b), want, "byte {b:#04x}");
        }
    }

    #[test]
    fn finished_blob() {
        assert_eq!(classify(SHA), BlobName::Blob { etag: SHA });
        assert_eq!(
            classify("7c5d3f4b8b76583b422fcb9189ad6c89d5d97a09"),
            BlobName::Blob {
                etag: "7c5d3f4b8b76583b422fcb9189ad6c89d5d97a09"
            }
        );
    }

    #[test]
    fn temp_names_of_every_client() {
        let unique = format!("{SHA}.a82efb60.incomplete");
        assert_eq!(
            classify(&unique),
            BlobName::Temp {
                etag: SHA,
                kind: TempKind::Incomplete
            }
        );
        let legacy = format!("{SHA}.incomplete");
        assert_eq!(
            classify(&legacy),
            BlobName::Temp {
                etag: SHA,
                kind: TempKind::Incomplete
            }
        );
        let part = format!("{SHA}.part");
        assert_eq!(
            classify(&part),
            BlobName::Temp {
                etag: SHA,
                kind: TempKind::Part
            }
        );
        let double_dot = format!("{SHA}..part");
        assert_eq!(
            classify(&double_dot),
            BlobName::Temp {
                etag: SHA,
                kind: TempKind::Part
            }
        );
        let sync = format!("{SHA}.sync.part");
        assert_eq!(
            classify(&sync),
            BlobName::Temp {
                etag: SHA,
                kind: TempKind::SyncPart
            }
        );
        assert!(is_temp(&sync));
    }

    #[test]
    fn non_hex_suffix_is_kept_in_the_etag() {
        assert_eq!(
            classify("abc.notahex1.incomplete"),
            BlobName::Temp {
                etag: "abc.notahex1",
                kind: TempKind::Incomplete
            }
        );
    }

    #[test]
    fn locks_and_others() {
        assert_eq!(classify(&format!("{SHA}.lock")), BlobName::Lock);
        assert_eq!(
            classify(&format!(".{SHA}.a82efb60.shared")),
            BlobName::Other
        );
        assert_eq!(classify("tmp_3f2a"), BlobName::Other);
        assert_eq!(classify(""), BlobName::Other);
        assert!(!is_temp(SHA));
    }
}
