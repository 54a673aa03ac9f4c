//! `--web.config.file` against the real binary: TLS handshakes with a CA made at test time,
//! client certificates, basic auth, extra headers, reload on change (including a bad rewrite
//! and a certificate rotation) and startup errors (exit 2, file named).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use common::server::{Proc, Resp, exchange};
use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};

/// A CA and what it signed, written as PEM files into a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, "hfce test CA");
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("ca.crt"), ca.pem()).unwrap();
        Self { dir, ca }
    }

    /// Sign a leaf for `usage` and write `<name>.crt`/`<name>.key`; returns the cert's DER.
    fn leaf(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> Vec<u8> {
        let mut p = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.ca).unwrap();
        write_atomic(&self.path(&format!("{name}.crt")), &cert.pem());
        write_atomic(&self.path(&format!("{name}.key")), &key.serialize_pem());
        cert.der().to_vec()
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    /// A client config trusting this CA, optionally presenting `<client>.crt`.
    fn client(&self, client: Option<&str>) -> Arc<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(self.path("ca.crt")).unwrap())
            .unwrap();
        let b = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        Arc::new(match client {
            None => b.with_no_client_auth(),
            Some(n) => {
                let chain =
                    vec![CertificateDer::from_pem_file(self.path(&format!("{n}.crt"))).unwrap()];
                let key = PrivateKeyDer::from_pem_file(self.path(&format!("{n}.key"))).unwrap();
                b.with_client_auth_cert(chain, key).unwrap()
            }
        })
    }
}

/// Replace a file the way config management does (write aside, rename over).
fn write_atomic(p: &Path, text: &str) {
    let tmp = p.with_extension("tmp");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, p).unwrap();
}

fn basic(user_pass: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(user_pass);
    format!("Authorization: Basic {b64}")
}

/// One HTTPS request; `None` if the handshake or the request failed before an answer.
/// Also returns the server's leaf certificate as seen by the client.
fn https(
    s: &Proc,
    cfg: Arc<rustls::ClientConfig>,
    path: &str,
    headers: &[&str],
) -> (Option<Resp>, Option<Vec<u8>>) {
    let conn =
        rustls::ClientConnection::new(cfg, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, s.connect());
    let resp = exchange(&mut tls, "GET", path, headers);
    let leaf = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec());
    (resp, leaf)
}

fn small_cache() -> Cache {
    let c = Cache::new();
    c.repo("models--org--name")
        .blob(&h(1), 1000)
        .link(&"a".repeat(40), "config.json", &h(1));
    c
}

fn start(cache: &Cache, web: &Path) -> Proc {
    Proc::start(&[
        "--cache.dir".as_ref(),
        cache.root.as_os_str(),
        "--web.config.file".as_ref(),
        web.as_os_str(),
    ])
}

fn hash(pw: &str) -> String {
    bcrypt::hash(pw, 4).unwrap()
}

#[test]
fn tls_client_certs_basic_auth_and_headers() {
    let pki = Pki::new();
    let server_der = pki.leaf("server", ExtendedKeyUsagePurpose::ServerAuth);
    pki.leaf("client", ExtendedKeyUsagePurpose::ClientAuth);
    let web = pki.path("web.yml");
    fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS12\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  alice: {}\n",
            hash("wonderland")
        ),
    )
    .unwrap();
    let cache = small_cache();
    let s = start(&cache, &web);
    let with_cert = pki.client(Some("client"));

    let (r, leaf) = https(
        &s,
        with_cert.clone(),
        "/metrics",
        &[&basic("alice:wonderland")],
    );
    let r = r.expect("no answer over TLS with a client certificate");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        leaf.as_deref(),
        Some(&server_der[..]),
        "server presented another cert"
    );
    assert!(r.body.contains("model=\"org/name\""), "{}", r.body);
    assert_eq!(r.header("x-frame-options"), Some("deny"));

    for creds in [
        vec![],
        vec![basic("alice:wrong")],
        vec![basic("mallory:wonderland")],
    ] {
        let h: Vec<&str> = creds.iter().map(String::as_str).collect();
        let r = https(&s, with_cert.clone(), "/metrics", &h).0.unwrap();
        assert_eq!(r.status, 401, "{creds:?}: {}", r.body);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"hf-cache-exporter\"")
        );
        assert_eq!(
            r.header("x-frame-options"),
            Some("deny"),
            "headers on refusals too"
        );
        assert!(!r.body.contains("hf_cache"), "{}", r.body);
    }
    // Probes need no password (documented); they still need the TLS client certificate.
    assert_eq!(
        https(&s, with_cert.clone(), "/healthz", &[])
            .0
            .unwrap()
            .status,
        200
    );

    // No client certificate, or plain HTTP on the TLS port: no HTTP answer at all.
    let (r, _) = https(&s, pki.client(None), "/healthz", &[]);
    assert!(
        r.is_none(),
        "answered without a client cert: {}",
        r.unwrap().status
    );
    let r = exchange(&mut s.connect(), "GET", "/healthz", &[]);
    assert!(r.is_none(), "answered plain HTTP on the TLS port");

    // A certificate from another CA is refused too.
    let other = Pki::new();
    other.leaf("client", ExtendedKeyUsagePurpose::ClientAuth);
    fs::copy(pki.path("ca.crt"), other.path("ca.crt")).unwrap();
    let (r, _) = https(&s, other.client(Some("client")), "/healthz", &[]);
    assert!(r.is_none(), "answered a client cert from a foreign CA");
}

#[test]
fn reload_users_keep_last_good_config_and_rotate_certificates() {
    let pki = Pki::new();
    pki.leaf("server", ExtendedKeyUsagePurpose::ServerAuth);
    let web = pki.path("web.yml");
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    write_atomic(
        &web,
        &format!("{tls}basic_auth_users:\n  alice: {}\n", hash("a")),
    );
    let cache = small_cache();
    let s = start(&cache, &web);
    let client = pki.client(None);
    let status = |creds: &str| {
        https(&s, client.clone(), "/metrics", &[&basic(creds)])
            .0
            .expect("no answer")
            .status
    };
    assert_eq!(status("alice:a"), 200);
    assert_eq!(status("bob:b"), 401);

    write_atomic(
        &web,
        &format!("{tls}basic_auth_users:\n  bob: {}\n", hash("b")),
    );
    assert_eq!(status("bob:b"), 200, "new user not picked up");
    assert_eq!(status("alice:a"), 401, "removed user still let in");
    s.wait_log("msg=\"web config reloaded\"");

    write_atomic(
        &web,
        &format!("{tls}basic_auth_users:\n  carol: not-a-hash\n"),
    );
    assert_eq!(
        status("bob:b"),
        200,
        "a bad rewrite must keep the last good config"
    );
    let warn = s.wait_log("web config reload failed");
    assert!(
        warn.contains("level=warn") && warn.contains("web.yml"),
        "{warn}"
    );
    assert!(warn.contains("basic_auth_users.carol"), "{warn}");

    // Certificate rotation: the next connection presents the new certificate.
    let rotated = pki.leaf("server", ExtendedKeyUsagePurpose::ServerAuth);
    write_atomic(
        &web,
        &format!("{tls}basic_auth_users:\n  bob: {}\n", hash("b")),
    );
    let (r, leaf) = https(&s, client.clone(), "/metrics", &[&basic("bob:b")]);
    assert_eq!(r.unwrap().status, 200);
    assert_eq!(
        leaf.as_deref(),
        Some(&rotated[..]),
        "old certificate still served"
    );
}

#[test]
fn plain_http_basic_auth_without_tls() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    fs::write(
        &web,
        format!("basic_auth_users:\n  alice: {}\n", hash("pw")),
    )
    .unwrap();
    let cache = small_cache();
    let s = start(&cache, &web);
    assert_eq!(s.req("GET", "/metrics", &[]).status, 401);
    assert_eq!(
        s.req("GET", "/download_progress?model_name=org/name", &[])
            .status,
        401
    );
    assert_eq!(s.req("GET", "/", &[]).status, 401);
    assert_eq!(s.req("GET", "/no-such-page", &[]).status, 401);
    assert_eq!(s.req("GET", "/metrics", &[&basic("alice:pw")]).status, 200);
    let ready = s.req("GET", "/readyz", &[]).status;
    assert!(
        ready == 200 || ready == 503,
        "probes need no password: {ready}"
    );
}

#[test]
fn bad_web_config_at_startup_exits_2_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("typo.yml", "basic_auth_user:\n  a: b\n", "typo.yml:1:1: "),
        (
            "hash.yml",
            "basic_auth_users:\n  alice: secret\n",
            "hash.yml:2:10: basic_auth_users.alice",
        ),
        (
            "nocert.yml",
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
            "missing.crt",
        ),
    ];
    let cache = small_cache();
    for (name, text, want) in cases {
        let web = dir.path().join(name);
        fs::write(&web, text).unwrap();
        for cmd in [&[][..], &["check-config"][..]] {
            let out = run_timeout(
                {
                    let mut c = std::process::Command::new(BIN);
                    c.args(["--web.listen-address", "127.0.0.1:0", "--cache.dir"])
                        .arg(&cache.root)
                        .arg("--web.config.file")
                        .arg(&web)
                        .args(cmd);
                    c
                },
                30,
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} {cmd:?}: {err}");
            assert!(
                err.contains("configuration error") && err.contains(want),
                "{name}: {err}"
            );
        }
    }
    let out = run(&[
        "--web.config.file",
        dir.path().join("nope.yml").to_str().unwrap(),
        "check-config",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yml"));
}

#[test]
fn check_config_validates_and_summarises_a_good_web_config() {
    let pki = Pki::new();
    pki.leaf("server", ExtendedKeyUsagePurpose::ServerAuth);
    let cfg = pki.path("cfg.yaml");
    fs::write(&cfg, "web:\n  config_file: web.yml\n  max_requests: 7\n").unwrap();
    fs::write(
        pki.path("web.yml"),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    )
    .unwrap();
    let out = run(&["--config.file", cfg.to_str().unwrap(), "check-config"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("max_requests: 7"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "config_file: {:?}",
            pki.path("web.yml").display().to_string()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("# web config: TLS on (RequireAndVerifyClientCert), 0 basic auth user(s)"),
        "{stdout}"
    );
}
