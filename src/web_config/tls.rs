//! Builds the rustls server configuration from [`TlsSettings`]: reads the certificate, key and
//! client CA (files or inline PEM) and pins the protocol versions. ring is the only crypto
//! provider, so nothing here needs OpenSSL, cmake or a C toolchain beyond ring's own.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{ClientAuth, Pem, TlsSettings, TlsVersion};

/// Read everything `t` names and build a server configuration; errors name the field and file.
pub fn server_config(t: &TlsSettings) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = certificates(&t.cert, "cert")?;
    let key_pem = read(&t.key, "key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("{}: no private key found: {e}", describe(&t.key, "key")))?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (t.min_version..=t.max_version).contains(v))
    .map(|(_, p)| p)
    .collect();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let builder = match (&t.client_auth, &t.client_ca) {
        (ClientAuth::NoClientCert, _) | (_, None) => builder.with_no_client_auth(),
        (mode, Some(ca)) => {
            let mut roots = RootCertStore::empty();
            for c in certificates(ca, "client_ca")? {
                roots.add(c).map_err(|e| {
                    format!(
                        "{}: not a usable CA certificate: {e}",
                        describe(ca, "client_ca")
                    )
                })?;
            }
            let mut vb = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if *mode == ClientAuth::VerifyClientCertIfGiven {
                vb = vb.allow_unauthenticated();
            }
            let verifier = vb
                .build()
                .map_err(|e| format!("{}: {e}", describe(ca, "client_ca")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder.with_single_cert(certs, key).map_err(|e| {
        format!(
            "{} and {} do not form a usable pair: {e}",
            describe(&t.cert, "cert"),
            describe(&t.key, "key")
        )
    })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

fn certificates(p: &Pem, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(p, what)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: bad PEM: {e}", describe(p, what)))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", describe(p, what)));
    }
    Ok(certs)
}

fn read(p: &Pem, what: &str) -> Result<Vec<u8>, String> {
    match p {
        Pem::Inline(s) => Ok(s.as_bytes().to_vec()),
        Pem::File(f) => std::fs::read(f).map_err(|e| {
            format!(
                "tls_server_config.{what}_file: cannot read {}: {e}",
                f.display()
            )
        }),
    }
}

fn describe(p: &Pem, what: &str) -> String {
    match p {
        Pem::Inline(_) => format!("tls_server_config.{what}"),
        Pem::File(f) => format!("tls_server_config.{what}_file {}", f.display()),
    }
}
