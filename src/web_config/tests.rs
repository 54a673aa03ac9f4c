use super::*;

// `htpasswd -nbBC 10 "" test | tr -d ':\n'` style hash (cost 4 to keep tests fast).
const HASH: &str = "$2b$04$J2tqY6v3w0m/2GTR9QxXpeZ2ybSdXUq4bp6sAUu3gzcw5kaagm6Yu";

fn ok(text: &str) -> WebConfig {
    parse("web.yml", text, Path::new("/etc/hfce")).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    parse("web.yml", text, Path::new("/etc/hfce"))
        .unwrap_err()
        .to_string()
}

#[test]
fn empty_file_is_plain_http_without_auth() {
    assert_eq!(ok(""), WebConfig::default());
    assert_eq!(ok("basic_auth_users:\n"), WebConfig::default());
}

#[test]
fn full_file_resolves_paths_against_its_folder() {
    let c = ok(&format!(
        r#"
tls_server_config:
  cert_file: tls/server.crt
  key_file: /abs/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS13
  prefer_server_cipher_suites: true
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  alice: {HASH}
"#
    ));
    let t = c.tls.as_ref().unwrap();
    assert_eq!(t.cert, Pem::File("/etc/hfce/tls/server.crt".into()));
    assert_eq!(t.key, Pem::File("/abs/server.key".into()));
    assert_eq!(t.client_ca, Some(Pem::File("/etc/hfce/ca.crt".into())));
    assert_eq!(t.client_auth, ClientAuth::RequireAndVerifyClientCert);
    assert_eq!(
        (t.min_version, t.max_version),
        (TlsVersion::Tls13, TlsVersion::Tls13)
    );
    assert_eq!(c.users["alice"], HASH);
    assert_eq!(c.headers.len(), 2);
    assert_eq!(
        c.files(),
        vec![
            PathBuf::from("/etc/hfce/tls/server.crt"),
            "/abs/server.key".into(),
            "/etc/hfce/ca.crt".into()
        ]
    );
}

#[test]
fn yaml_errors_name_line_column_and_field() {
    let e = err("basic_auth_user:\n  a: b\n");
    assert!(e.starts_with("web.yml:1:1: "), "{e}");
    assert!(e.contains("basic_auth_user"), "{e}");
    let e = err("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n");
    assert!(e.starts_with("web.yml:4:"), "{e}");
    assert!(
        e.contains("tls_server_config.min_version") && e.contains("TLS10"),
        "{e}"
    );
    let e = err("basic_auth_users:\n  alice: plaintext\n");
    assert!(e.starts_with("web.yml:2:"), "{e}");
    assert!(
        e.contains("basic_auth_users.alice") && e.contains("bcrypt"),
        "{e}"
    );
    let e = err(
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n",
    );
    assert!(
        e.contains("client_auth_type") && e.contains("RequireAndVerifyClientCert"),
        "{e}"
    );
    let e = err("http_server_config:\n  headers:\n    Authorization: x\n");
    assert!(e.contains("\"Authorization\" can not be configured"), "{e}");
    let e = err("http_server_config:\n  headers:\n    X-Frame-Options: allow\n");
    assert!(e.contains("Expected one of"), "{e}");
}

#[test]
fn semantic_errors_match_the_toolkit() {
    let e = err("tls_server_config:\n  key_file: k\n");
    assert!(e.contains("missing one of cert or cert_file"), "{e}");
    let e = err("tls_server_config:\n  cert_file: c\n");
    assert!(e.contains("missing one of key or key_file"), "{e}");
    let e = err("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n");
    assert!(e.contains("without a Client Auth Policy"), "{e}");
    let e = err(
        "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n",
    );
    assert!(e.contains("client_ca_file"), "{e}");
    let e = err(
        "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS13\n  max_version: TLS12\n",
    );
    assert!(e.contains("min_version"), "{e}");
    let e = err("tls_server_config:\n  cert: x\n  cert_file: c\n  key_file: k\n");
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn unimplemented_toolkit_features_are_refused_not_ignored() {
    let tls = "tls_server_config:\n  cert_file: c\n  key_file: k\n";
    for (extra, field) in [
        (
            "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
            "cipher_suites",
        ),
        ("  curve_preferences: [X25519]\n", "curve_preferences"),
        (
            "  client_allowed_sans: [a.example]\n",
            "client_allowed_sans",
        ),
    ] {
        let e = err(&format!("{tls}{extra}"));
        assert!(e.contains(field) && e.contains("not supported"), "{e}");
    }
    let e = err("rate_limit:\n  interval: 1s\n  burst: 5\n");
    assert!(
        e.contains("rate_limit") && e.contains("--web.max-requests"),
        "{e}"
    );
}
