//! Which https servers a run trusts, the same in every mode, as curl does:
//! the system's trust store (read by rustls-native-certs, which honours
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` as curl, Python and git do), plus the
//! certificates of `--cacert`; or none checked at all with `--insecure`.
//! Both clients verify with rustls's WebPKI verifier over the same roots,
//! so a certificate gets one verdict whichever mode met it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;

use super::handshake::NotedStore;

/// What a run trusts over https.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Certificates added to the system's store (`--cacert`).
    pub cacert: Vec<CertificateDer<'static>>,
    /// Whether certificates go unchecked (`--insecure`).
    pub insecure: bool,
}

/// Why `--cacert` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The file cannot be read, or is not PEM.
    #[error("--cacert {}: {why}", path.display())]
    Unreadable {
        /// The file as given.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The file holds no certificate.
    #[error("--cacert {}: no certificate in it (a PEM file with BEGIN CERTIFICATE)", path.display())]
    Empty {
        /// The file as given.
        path: PathBuf,
    },
}

impl Trust {
    /// The certificates of a PEM file, one or more, for `--cacert`.
    pub fn read_cacert(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
        let unreadable = |why: String| TrustError::Unreadable {
            path: path.to_owned(),
            why,
        };
        let pem = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unreadable(format!("not PEM ({e})")))?;
        if certs.is_empty() {
            return Err(TrustError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(certs)
    }

    /// The roots of a run from `base_url`, read once (see [`Roots`]).
    pub(crate) fn roots_for(&self, base_url: &str) -> Roots {
        let https = base_url.starts_with("https:");
        let certs = if self.insecure {
            Vec::new()
        } else if https {
            let mut roots = rustls_native_certs::load_native_certs().certs;
            if roots.is_empty() {
                roots.extend(bundled_roots());
            }
            roots.extend(self.cacert.iter().cloned());
            roots
        } else {
            bundled_roots().chain(self.cacert.iter().cloned()).collect()
        };
        Roots {
            certs,
            insecure: self.insecure,
            https,
            verifier: OnceLock::new(),
            blocking: OnceLock::new(),
            handshakes: Arc::default(),
        }
    }
}

/// The bundled Mozilla roots.
fn bundled_roots() -> impl Iterator<Item = CertificateDer<'static>> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned()
}

/// What a run's https requests are verified against, the same for both
/// clients. Against an https server: the system's store (a system with
/// none falls back on the bundled Mozilla roots) and `--cacert`. Against a
/// plain http server, which a redirect could still send to https: the
/// bundled roots and `--cacert`, so that no plain run pays for reading the
/// system's store. Both clients verify with one verifier, made once for
/// the run, which counts the full handshakes.
pub(crate) struct Roots {
    certs: Vec<CertificateDer<'static>>,
    insecure: bool,
    /// Whether the run's server is https (else no handshake is counted).
    https: bool,
    /// The one verifier, made when first asked for.
    verifier: OnceLock<Arc<dyn ServerCertVerifier>>,
    /// The blocking clients' one configuration (HTTP/1.1), shared by
    /// every thread: its session cache lets a thread resume a session
    /// another began.
    blocking: OnceLock<Result<Arc<rustls::ClientConfig>, rustls::Error>>,
    /// The run's TLS handshakes, full and in all.
    pub handshakes: Arc<Handshakes>,
}

impl Roots {
    /// The verifier: WebPKI over the roots, or none with `--insecure`;
    /// made once, whatever the number of clients, and counting each
    /// certificate it accepts (a full handshake: a resumed one shows
    /// none).
    fn verifier(
        &self,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Arc<dyn ServerCertVerifier>, rustls::Error> {
        if let Some(verifier) = self.verifier.get() {
            return Ok(Arc::clone(verifier));
        }
        let webpki = if self.insecure {
            None
        } else {
            let mut store = rustls::RootCertStore::empty();
            store.add_parsable_certificates(self.certs.iter().cloned());
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(store),
                Arc::clone(provider),
            )
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
            Some(webpki)
        };
        let counted: Arc<dyn ServerCertVerifier> = Arc::new(RunVerifier {
            webpki,
            algorithms: provider.signature_verification_algorithms,
            handshakes: Arc::clone(&self.handshakes),
        });
        Ok(Arc::clone(self.verifier.get_or_init(|| counted)))
    }

    /// The TLS configuration of an https connection: rustls over ring,
    /// verifying against the run's roots (the same trust and the same
    /// verdicts in every mode); ALPN offers `alpn` alone; its session
    /// store is rustls's own, noting when each handshake begins.
    pub(crate) fn client_config(&self, alpn: &[u8]) -> Result<rustls::ClientConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = self.verifier(&provider)?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        config.resumption = rustls::client::Resumption::store(Arc::new(NotedStore::new()));
        Ok(config)
    }

    /// Against an https server, the run's TLS handshakes and those that
    /// resumed a session: the blocking clients' own count, or for the
    /// async client `async_connections` (each its own handshake).
    pub(crate) fn handshakes_made(
        &self,
        async_connections: Option<usize>,
    ) -> Option<(usize, usize)> {
        self.https.then(|| {
            let full = self.handshakes.full.load(Ordering::Relaxed);
            let all = async_connections
                .unwrap_or_else(|| self.handshakes.blocking.load(Ordering::Relaxed))
                .max(full);
            (all, all - full)
        })
    }

    /// The blocking clients' configuration (HTTP/1.1), made once.
    pub(crate) fn blocking_config(&self) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
        self.blocking
            .get_or_init(|| self.client_config(b"http/1.1").map(Arc::new))
            .clone()
    }
}

/// How many TLS handshakes a run made, and how many were full ones: a
/// resumed handshake skips the certificate and its signatures, and costs
/// a fraction of a full one (`flags costs`).
#[derive(Debug, Default)]
pub(crate) struct Handshakes {
    /// Certificates accepted: one per full handshake.
    full: AtomicUsize,
    /// Handshakes the blocking clients completed; the async client's are
    /// its connections to an https server.
    blocking: AtomicUsize,
}

impl Handshakes {
    /// A blocking client completed a handshake.
    pub(crate) fn completed(&self) {
        self.blocking.fetch_add(1, Ordering::Relaxed);
    }
}

/// The run's one verifier: the certificate checked by WebPKI over the
/// roots (or not at all with `--insecure`), the handshake's signatures by
/// the provider's algorithms either way (the handshake stays TLS), and
/// each certificate accepted counted: a full handshake, as a resumed one
/// shows none.
#[derive(Debug)]
struct RunVerifier {
    /// WebPKI over the run's roots; `None` with `--insecure`.
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
    handshakes: Arc<Handshakes>,
}

impl ServerCertVerifier for RunVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            )?,
            None => ServerCertVerified::assertion(),
        };
        self.handshakes.full.fetch_add(1, Ordering::Relaxed);
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What a TLS failure means to a person: the words of curl and browsers.
pub(crate) fn tls_reason(error: &rustls::Error) -> String {
    use rustls::Error as E;
    match error {
        E::InvalidCertificate(certificate) => certificate_reason(certificate),
        E::PeerIncompatible(why) => format!("no TLS version or cipher in common ({why:?})"),
        E::AlertReceived(rustls::AlertDescription::HandshakeFailure) => {
            "the server refused the handshake (no TLS version or cipher in common?)".into()
        }
        E::AlertReceived(rustls::AlertDescription::NoApplicationProtocol) => {
            "the server ended the handshake: no HTTP version in common".into()
        }
        E::AlertReceived(alert) => format!("the server ended the handshake: {alert:?}"),
        E::NoCertificatesPresented => "the server presented no certificate".into(),
        other => format!("TLS: {other}"),
    }
}

/// What a certificate's fault means to a person.
fn certificate_reason(error: &CertificateError) -> String {
    use CertificateError as C;
    match error {
        C::Expired | C::ExpiredContext { .. } => "certificate has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "certificate is not valid yet".into(),
        C::NotValidForNameContext {
            expected,
            presented,
        } => {
            let host = match expected {
                ServerName::DnsName(name) => name.as_ref().to_owned(),
                ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                other => format!("{other:?}"),
            };
            let names: Vec<&str> = presented.iter().map(|n| presented_name(n)).collect();
            match names.as_slice() {
                [] => format!("certificate names no host, not {host}"),
                names => format!("certificate is for {}, not {host}", names.join(", ")),
            }
        }
        C::NotValidForName => "certificate is for another host".into(),
        // rustls cannot tell a self-signed certificate from one whose CA is
        // not trusted here or whose intermediate the server did not send:
        // the words fit all three, and an 80-column summary line.
        C::UnknownIssuer => "unknown issuer: pass its CA with --cacert".into(),
        C::BadSignature => "certificate has a bad signature".into(),
        C::Revoked => "certificate has been revoked".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "certificate is not for a TLS server".into()
        }
        other => format!("bad certificate: {other:?}"),
    }
}

/// A name of a certificate as webpki presents it (its `Debug` form, such
/// as `DnsName("other.example")`, the only form it gives; the TLS tests
/// pin it): the name alone.
fn presented_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .unwrap_or(presented)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cacert_that_is_missing_or_not_pem_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let error = Trust::read_cacert(&missing).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("--cacert {}: ", missing.display())),
            "{error}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let error = Trust::read_cacert(&empty).unwrap_err().to_string();
        assert!(error.ends_with("no certificate in it (a PEM file with BEGIN CERTIFICATE)"));
    }

    #[test]
    fn certificate_faults_read_as_a_person_says_them() {
        assert_eq!(
            tls_reason(&rustls::Error::InvalidCertificate(
                CertificateError::Expired
            )),
            "certificate has expired"
        );
        let wrong_host = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("localhost").unwrap(),
            presented: vec!["DnsName(\"other.example\")".into()],
        };
        assert_eq!(
            tls_reason(&rustls::Error::InvalidCertificate(wrong_host)),
            "certificate is for other.example, not localhost"
        );
        assert!(
            tls_reason(&rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
            .ends_with("pass its CA with --cacert")
        );
    }
}
