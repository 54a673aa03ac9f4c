//! Repo references from anywhere (flags, config, `/download_progress?model_name=`): no panic, and
//! every accepted reference names exactly one Hub-grammar folder in the cache root, with a
//! revision that stays under `refs/`, and folder names round-trip.
#![no_main]

use hf_cache_exporter::repo_ref::{RepoRef, RepoType, parse_folder_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_folder_name(input);
    for explicit in [None, Some(RepoType::Model), Some(RepoType::Dataset)] {
        let Ok(r) = RepoRef::parse(input, explicit) else {
            continue;
        };
        let folder = r.folder_name();
        assert!(
            !folder.contains(['/', '\0']) && !folder.contains(".."),
            "{folder:?}"
        );
        assert!(!folder.starts_with('.'), "{folder:?}");
        assert_eq!(
            parse_folder_name(&folder),
            Some((r.repo_type, r.repo_id.clone())),
            "{input:?}"
        );
        if let Some(rev) = &r.revision {
            assert!(!rev.starts_with('/') && !rev.contains('\0'), "{rev:?}");
            assert!(
                rev.split('/')
                    .all(|s| !s.is_empty() && s != "." && s != ".."),
                "{rev:?}"
            );
        }
    }
});
