//! HTTP clients: one connection pool per distinct TLS configuration, with
//! rustls (ring) configured from [`TlsConfig`].

use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crated_core::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::TlsConfig;

/// The system's trusted roots, loaded once.
static SYSTEM_ROOTS: LazyLock<Vec<CertificateDer<'static>>> = LazyLock::new(|| {
    let loaded = rustls_native_certs::load_native_certs();
    for err in &loaded.errors {
        tracing::debug!(error = %err, "loading system CA certificates");
    }
    loaded.certs
});

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An HTTP client for endpoints with `tls` settings.
pub(crate) fn build_client(tls: &TlsConfig, user_agent: &str) -> Result<reqwest::Client> {
    let config = rustls_config(tls)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .user_agent(user_agent)
        .connect_timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_keepalive(Duration::from_secs(30))
        .build()
        .map_err(|e| {
            Error::with_source(crated_core::ErrorKind::Internal, "building HTTP client", e)
        })
}

fn rustls_config(tls: &TlsConfig) -> Result<ClientConfig> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            Error::with_source(crated_core::ErrorKind::Internal, "TLS protocol versions", e)
        })?;
    let builder = if tls.skip_verify == Some(true) {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipVerify(
                provider.signature_verification_algorithms,
            )))
    } else {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(SYSTEM_ROOTS.iter().cloned());
        for file in &tls.ca_files {
            let certs = read_certs(file)?;
            if certs.is_empty() {
                return Err(Error::invalid_argument(format!(
                    "unable to load CA cert {}: no PEM certificate in it",
                    file.display()
                )));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    Error::with_source(
                        crated_core::ErrorKind::InvalidArgument,
                        format_args!("unable to load CA cert {}", file.display()),
                        e,
                    )
                })?;
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match tls.client_pairs.first() {
        None => builder.with_no_client_auth(),
        Some(pair) => {
            if tls.client_pairs.len() > 1 {
                tracing::warn!(
                    used = %pair.cert.display(),
                    "several client certificates configured; only the first is offered"
                );
            }
            let chain = read_certs(&pair.cert)?;
            let key_file = pair.key.as_deref().unwrap_or(&pair.cert);
            let key = read_key(key_file)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                Error::with_source(
                    crated_core::ErrorKind::InvalidArgument,
                    format_args!("failed to load X509 key pair {}", pair.cert.display()),
                    e,
                )
            })?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            crated_core::ErrorKind::NotFound
        } else {
            crated_core::ErrorKind::InvalidArgument
        };
        Error::new(
            kind,
            format!("unable to read {what} {}: {e}", path.display()),
        )
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let data = read_file(path, "certificate file")?;
    CertificateDer::pem_slice_iter(&data)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::with_source(
                crated_core::ErrorKind::InvalidArgument,
                format_args!("invalid PEM in {}", path.display()),
                e,
            )
        })
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let data = read_file(path, "key file")?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::InvalidArgument,
            format_args!("no private key in {}", path.display()),
            e,
        )
    })
}

/// `skip_verify`: accepts any server certificate and name, still checking
/// that the handshake is signed by the presented key.
#[derive(Debug)]
struct SkipVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::ClientPair;

    #[test]
    fn builds_clients_and_reports_bad_files() {
        assert!(build_client(&TlsConfig::default(), "t").is_ok());
        let skip = TlsConfig {
            skip_verify: Some(true),
            ..TlsConfig::default()
        };
        assert!(build_client(&skip, "t").is_ok());
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsConfig {
            ca_files: vec![dir.path().join("nope.pem")],
            ..TlsConfig::default()
        };
        let err = build_client(&missing, "t").unwrap_err();
        assert_eq!(err.kind(), crated_core::ErrorKind::NotFound);
        std::fs::write(dir.path().join("empty.pem"), "nothing").unwrap();
        let empty = TlsConfig {
            ca_files: vec![dir.path().join("empty.pem")],
            ..TlsConfig::default()
        };
        assert!(
            build_client(&empty, "t")
                .unwrap_err()
                .message()
                .contains("no PEM certificate")
        );
        let nokey = TlsConfig {
            client_pairs: vec![ClientPair {
                cert: dir.path().join("empty.pem"),
                key: None,
            }],
            ..TlsConfig::default()
        };
        assert!(
            build_client(&nokey, "t")
                .unwrap_err()
                .message()
                .contains("no private key")
        );
    }
}
