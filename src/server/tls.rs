//! HTTPS for the servers: a certificate for `localhost`, `127.0.0.1` and
//! `::1` made at start and signed by a CA made with it (whose certificate
//! clients are given to trust), or the operator's own certificate and key.
//! ALPN offers HTTP/2 and HTTP/1.1, so one port serves both over TLS as it
//! does in cleartext.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls_pki_types::pem::PemObject;

/// A server's TLS: what it accepts connections with.
#[derive(Clone)]
pub struct ServerTls {
    /// rustls's configuration of the server.
    pub config: Arc<rustls::ServerConfig>,
    /// The certificate of the CA that signed the server's, as PEM, when the
    /// server made it (`flags serve --tls`, the embedded server).
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("made_here", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a server's TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A file of `--tls-cert` or `--tls-key` cannot be read or is not PEM.
    #[error("{option} {}: {why}", path.display())]
    File {
        /// `--tls-cert` or `--tls-key`.
        option: &'static str,
        /// The file as given.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// rustls refused the certificate and key (they do not match, or the
    /// key's kind is not supported).
    #[error("the certificate and key cannot serve: {0}")]
    Refused(#[from] rustls::Error),
    /// Making a certificate failed.
    #[error("cannot make a certificate: {0}")]
    Make(#[from] rcgen::Error),
}

impl ServerTls {
    /// A CA made now, and a certificate it signs for this machine's
    /// loopback names: what `flags serve --tls` and `flags --tls` serve.
    pub fn made_here() -> Result<Self, TlsSetupError> {
        let pems = LocalPems::make()?;
        let chain = vec![
            CertificateDer::from_pem_slice(pems.cert.as_bytes())
                .map_err(|e| rcgen::Error::PemError(e.to_string()))?,
        ];
        let key = PrivateKeyDer::from_pem_slice(pems.key.as_bytes())
            .map_err(|e| rcgen::Error::PemError(e.to_string()))?;
        Ok(Self {
            config: server_config(chain, key)?,
            ca_pem: Some(pems.ca),
        })
    }

    /// The operator's certificate chain and key, PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, TlsSetupError> {
        let file_error = |option, path: &Path, why: String| TlsSetupError::File {
            option,
            path: path.to_owned(),
            why,
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| file_error("--tls-cert", cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(file_error(
                "--tls-cert",
                cert,
                "no certificate in it".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| file_error("--tls-key", key, e.to_string()))?;
        Ok(Self {
            config: server_config(chain, key)?,
            ca_pem: None,
        })
    }

    /// The CA's certificate, DER, for a client of this process to trust.
    pub fn ca_der(&self) -> Option<CertificateDer<'static>> {
        let pem = self.ca_pem.as_ref()?;
        CertificateDer::from_pem_slice(pem.as_bytes()).ok()
    }
}

/// A CA and a certificate it signs for `localhost`, `127.0.0.1` and
/// `::1`, as PEM: what a server on this machine serves and its clients
/// trust (`flags bench --tls` hands them to every server it starts).
pub struct LocalPems {
    /// The CA's certificate, for clients to trust.
    pub ca: String,
    /// The server's certificate.
    pub cert: String,
    /// The server's private key.
    pub key: String,
}

impl LocalPems {
    /// Makes a CA and a loopback certificate now.
    pub fn make() -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name
            .push(DnType::CommonName, "flags serve local CA");
        let ca = ca.self_signed(&ca_key)?;
        let key = KeyPair::generate()?;
        let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        let mut leaf = CertificateParams::new(names)?;
        leaf.distinguished_name
            .push(DnType::CommonName, "flags serve");
        let leaf = leaf.signed_by(&key, &ca, &ca_key)?;
        Ok(Self {
            ca: ca.pem(),
            cert: leaf.pem(),
            key: key.serialize_pem(),
        })
    }
}

/// rustls's server configuration: TLS 1.2 and 1.3 over ring, HTTP/2 and
/// HTTP/1.1 by ALPN, and session tickets so that clients can resume.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    Ok(Arc::new(config))
}
