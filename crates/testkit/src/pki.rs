//! A throwaway CA with a server certificate for 127.0.0.1 and localhost and
//! a client certificate, written as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// PEM files of a test PKI.
pub struct Pki {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The server certificate (SANs `127.0.0.1` and `localhost`).
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
    /// A client certificate (for mutual TLS).
    pub client_cert: PathBuf,
    /// The client's private key.
    pub client_key: PathBuf,
}

#[track_caller]
fn named(cn: &str, sans: Vec<String>) -> CertificateParams {
    let mut params = CertificateParams::new(sans)
        .unwrap_or_else(|e| panic!("certificate parameters for {cn}: {e}"));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params
}

#[track_caller]
fn key(what: &str) -> KeyPair {
    KeyPair::generate().unwrap_or_else(|e| panic!("generating the {what} key: {e}"))
}

/// Generates the PKI into `dir` (`ca.pem`, `server.pem`, `server.key`,
/// `client.pem`, `client.key`).
#[track_caller]
pub fn generate(dir: &Path) -> Pki {
    let ca_key = key("CA");
    let mut ca_params = named("crated test CA", vec![]);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .unwrap_or_else(|e| panic!("self-signing the test CA: {e}"));
    let issuer = Issuer::new(ca_params, &ca_key);

    let server_key = key("server");
    let mut server_params = named("127.0.0.1", vec!["127.0.0.1".into(), "localhost".into()]);
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .unwrap_or_else(|e| panic!("signing the server certificate: {e}"));

    let client_key = key("client");
    let mut client_params = named("crated test client", vec![]);
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params
        .signed_by(&client_key, &issuer)
        .unwrap_or_else(|e| panic!("signing the client certificate: {e}"));

    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    };
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        server_cert: write("server.pem", server_cert.pem()),
        server_key: write("server.key", server_key.serialize_pem()),
        client_cert: write("client.pem", client_cert.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
    }
}
