//! HTTP basic auth against the bcrypt hashes of `basic_auth_users`, as the exporter-toolkit
//! does it: a bcrypt check costs ~70 ms at cost 10, so verdicts are cached, checks run one at
//! a time on a blocking thread (a password-guessing client gets one core, not all of them), and
//! an unknown user is checked against a decoy hash of the same cost so timing does not tell
//! which user names exist.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

/// Cached verdicts are forgotten wholesale beyond this many, so the cache cannot grow without
/// bound however many wrong passwords arrive.
const CACHE_MAX: usize = 1024;

#[derive(Default)]
pub struct BasicAuth {
    /// sha256(user, stored hash, password) → verdict. Keying on the stored hash means a
    /// changed or removed user never matches an old entry; hashing keeps passwords out of memory.
    cache: Mutex<HashMap<[u8; 32], bool>>,
    /// One bcrypt at a time.
    bcrypt: tokio::sync::Mutex<()>,
    /// Decoy hashes by cost, made on first need.
    decoys: Mutex<HashMap<u32, Arc<str>>>,
}

impl BasicAuth {
    /// True if `authorization` holds valid credentials for one of `users`.
    pub async fn check(
        &self,
        users: &BTreeMap<String, String>,
        authorization: Option<&[u8]>,
    ) -> bool {
        let Some((user, pass)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let (known, hash): (bool, Arc<str>) = match users.get(&user) {
            Some(h) => (true, Arc::from(h.as_str())),
            None => (false, self.decoy(max_cost(users)).await),
        };
        let key = cache_key(&user, &hash, &pass);
        if let Some(ok) = self.cache.lock().unwrap().get(&key) {
            return *ok && known;
        }
        let ok = {
            let _one = self.bcrypt.lock().await;
            let h = hash.clone();
            tokio::task::spawn_blocking(move || {
                // Passwords over 72 bytes fail instead of being truncated, as in Go's bcrypt.
                bcrypt::non_truncating_verify(pass.as_bytes(), &h).unwrap_or(false)
            })
            .await
            .unwrap_or(false)
        };
        let mut cache = self.cache.lock().unwrap();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, ok);
        ok && known
    }

    async fn decoy(&self, cost: u32) -> Arc<str> {
        if let Some(h) = self.decoys.lock().unwrap().get(&cost) {
            return h.clone();
        }
        let made = tokio::task::spawn_blocking(move || bcrypt::hash("decoy password", cost))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let made: Arc<str> = Arc::from(made);
        self.decoys.lock().unwrap().insert(cost, made.clone());
        made
    }
}

/// The highest cost among the configured hashes, so an unknown user is never answered faster.
fn max_cost(users: &BTreeMap<String, String>) -> u32 {
    users
        .values()
        .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
        .map(|p| p.get_cost())
        .max()
        .unwrap_or(bcrypt::DEFAULT_COST)
}

fn cache_key(user: &str, hash: &str, pass: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, hash, pass] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// `Basic base64(user:password)` → (user, password); anything else is `None`.
fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, b64) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user_pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
        .into_bytes()
    }

    #[test]
    fn parses_basic_credentials() {
        assert_eq!(
            parse_basic(&header("alice:s3:cret")),
            Some(("alice".into(), "s3:cret".into()))
        );
        assert_eq!(parse_basic(b"Bearer abc"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(parse_basic(&header("nocolon")), None);
    }

    #[tokio::test]
    async fn checks_users_and_caches_verdicts() {
        // Cost 4 keeps the test fast; the logic does not depend on the cost.
        let users: BTreeMap<String, String> =
            [("alice".to_owned(), bcrypt::hash("right", 4).unwrap())].into();
        let a = BasicAuth::default();
        assert!(a.check(&users, Some(&header("alice:right"))).await);
        assert!(
            a.check(&users, Some(&header("alice:right"))).await,
            "cached"
        );
        assert!(!a.check(&users, Some(&header("alice:wrong"))).await);
        assert!(!a.check(&users, Some(&header("bob:right"))).await);
        assert!(!a.check(&users, None).await);
        assert_eq!(a.cache.lock().unwrap().len(), 3);
        // A changed hash for the same user never reuses the old verdict.
        let changed: BTreeMap<String, String> =
            [("alice".to_owned(), bcrypt::hash("other", 4).unwrap())].into();
        assert!(!a.check(&changed, Some(&header("alice:right"))).await);
        assert!(a.check(&changed, Some(&header("alice:other"))).await);
        let long = format!("alice:{}", "x".repeat(100));
        assert!(!a.check(&changed, Some(&header(&long))).await);
    }
}
