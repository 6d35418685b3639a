//! Which https servers a run trusts, the same in every mode, as curl does:
//! the system's trust store (read by rustls-native-certs, which honours
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` as curl, Python and git do), plus the
//! certificates of `--cacert`; or none checked at all with `--insecure`.
//! Both clients verify with rustls's WebPKI verifier over the same roots,
//! so a certificate gets one verdict whichever mode met it.
//!
//! As OpenSSL (so curl and Python) does, the store's bundle file is read
//! at once and its certificate folders only when a certificate is not
//! trusted without them: a folder is a file per certificate, some 300 on
//! Debian, the same certificates as the bundle, and reading it costs a run
//! about 3 ms before its first request (docs/performance.md).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

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
        let (certs, folders) = if self.insecure {
            (Vec::new(), Vec::new())
        } else if https {
            let SystemStore { mut certs, folders } = SystemStore::read();
            if certs.is_empty() {
                certs.extend(bundled_roots());
            }
            certs.extend(self.cacert.iter().cloned());
            (certs, folders)
        } else {
            let certs = bundled_roots().chain(self.cacert.iter().cloned());
            (certs.collect(), Vec::new())
        };
        Roots {
            certs: certs.into(),
            folders,
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

/// The system's trust store: the certificates of its bundle file, read at
/// once, and its certificate folders, read only if a certificate is not
/// trusted without them. `SSL_CERT_FILE` and `SSL_CERT_DIR` name them, as
/// rustls-native-certs reads them; where neither is set, the system's
/// usual places (openssl-probe's). A store with no bundle is read whole
/// at once; so is one of another kind (macOS's, Windows's).
struct SystemStore {
    certs: Vec<CertificateDer<'static>>,
    folders: Vec<PathBuf>,
}

impl SystemStore {
    fn read() -> Self {
        let file = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
        let folders: Vec<PathBuf> = std::env::var_os("SSL_CERT_DIR")
            .map(|dirs| {
                let dirs = std::env::split_paths(&dirs);
                dirs.filter(|f| !f.as_os_str().is_empty()).collect()
            })
            .unwrap_or_default();
        let (file, folders) = match (file, folders) {
            (None, folders) if folders.is_empty() => match Self::usual_places() {
                Some(places) => places,
                None => {
                    return Self {
                        certs: rustls_native_certs::load_native_certs().certs,
                        folders: Vec::new(),
                    };
                }
            },
            places => places,
        };
        let certs = match &file {
            Some(file) => rustls_native_certs::load_certs_from_paths(Some(file), None).certs,
            None => Vec::new(),
        };
        if certs.is_empty() {
            return Self {
                certs: read_folders(&folders),
                folders: Vec::new(),
            };
        }
        Self { certs, folders }
    }

    /// Where this system keeps its bundle and folders.
    #[cfg(all(unix, not(target_os = "macos")))]
    fn usual_places() -> Option<(Option<PathBuf>, Vec<PathBuf>)> {
        let places = openssl_probe::probe();
        Some((places.cert_file, places.cert_dir))
    }

    /// A store that is not files: read whole by rustls-native-certs.
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    fn usual_places() -> Option<(Option<PathBuf>, Vec<PathBuf>)> {
        None
    }
}

/// The certificates of the folders of a trust store.
fn read_folders(folders: &[PathBuf]) -> Vec<CertificateDer<'static>> {
    folders
        .iter()
        .flat_map(|folder| rustls_native_certs::load_certs_from_paths(None, Some(folder)).certs)
        .collect()
}

/// What a run's https requests are verified against, the same for both
/// clients. Against an https server: the system's store (a system with
/// none falls back on the bundled Mozilla roots) and `--cacert`. Against a
/// plain http server, which a redirect could still send to https: the
/// bundled roots and `--cacert`, so that no plain run pays for reading the
/// system's store. Both clients verify with one verifier, made once for
/// the run, which counts the full handshakes.
pub(crate) struct Roots {
    certs: Arc<[CertificateDer<'static>]>,
    /// The store's folders, read if `certs` do not make a certificate
    /// trusted.
    folders: Vec<PathBuf>,
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
            Some(webpki_over(self.certs.iter().map(borrowed), provider)?)
        };
        let wider = (!self.insecure && !self.folders.is_empty()).then(|| Wider {
            certs: Arc::clone(&self.certs),
            folders: self.folders.clone(),
            provider: Arc::clone(provider),
            webpki: OnceLock::new(),
        });
        let counted: Arc<dyn ServerCertVerifier> = Arc::new(RunVerifier {
            webpki,
            wider,
            accepted: Mutex::new(None),
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

/// A certificate, borrowed: WebPKI keeps what it needs of a root.
fn borrowed<'a>(cert: &'a CertificateDer<'_>) -> CertificateDer<'a> {
    CertificateDer::from(cert.as_ref())
}

/// WebPKI over `certs` as roots.
fn webpki_over<'a>(
    certs: impl IntoIterator<Item = CertificateDer<'a>>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<rustls::client::WebPkiServerVerifier>, rustls::Error> {
    let mut store = rustls::RootCertStore::empty();
    store.add_parsable_certificates(certs);
    rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(store),
        Arc::clone(provider),
    )
    .build()
    .map_err(|e| rustls::Error::General(e.to_string()))
}

/// The run's one verifier: the certificate checked by WebPKI over the
/// roots (or not at all with `--insecure`), the handshake's signatures by
/// the provider's algorithms either way (the handshake stays TLS), and
/// each certificate accepted counted: a full handshake, as a resumed one
/// shows none.
///
/// The connections of a run meet the same certificate again and again, 50
/// at once at 50 in flight: a chain accepted is accepted again without
/// WebPKI within the same second, the finest time WebPKI checks a
/// certificate's validity to, so that the verdict is the one WebPKI
/// would give. The handshake's own signature is checked every time.
#[derive(Debug)]
struct RunVerifier {
    /// WebPKI over the run's roots; `None` with `--insecure`.
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    /// WebPKI over the roots and the store's folders, for a certificate
    /// the roots alone do not make trusted.
    wider: Option<Wider>,
    /// The last chain accepted, and when.
    accepted: Mutex<Option<Accepted>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
    handshakes: Arc<Handshakes>,
}

/// WebPKI over the roots and the trust store's folders, made when a
/// certificate first needs it.
#[derive(Debug)]
struct Wider {
    certs: Arc<[CertificateDer<'static>]>,
    folders: Vec<PathBuf>,
    provider: Arc<CryptoProvider>,
    webpki: OnceLock<Result<Arc<rustls::client::WebPkiServerVerifier>, rustls::Error>>,
}

impl Wider {
    fn webpki(&self) -> Result<&Arc<rustls::client::WebPkiServerVerifier>, rustls::Error> {
        self.webpki
            .get_or_init(|| {
                let folders = read_folders(&self.folders);
                let all = self.certs.iter().chain(&folders).map(borrowed);
                webpki_over(all, &self.provider)
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// A chain WebPKI accepted for a server name, and the second it did.
#[derive(Debug)]
struct Accepted {
    end_entity: CertificateDer<'static>,
    intermediates: Vec<CertificateDer<'static>>,
    server_name: ServerName<'static>,
    second: u64,
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
        // WebPKI's verdict: the roots', or if they do not make the chain
        // trusted, the wider store's; the chain last accepted, in the same
        // second, is accepted again without WebPKI.
        if let Some(webpki) = &self.webpki {
            let same = |accepted: &Accepted| {
                accepted.second == now.as_secs()
                    && accepted.end_entity == *end_entity
                    && accepted.intermediates == intermediates
                    && accepted.server_name == *server_name
            };
            let again = (self.accepted.lock()).is_ok_and(|last| last.as_ref().is_some_and(same));
            if !again {
                let verify = |webpki: &rustls::client::WebPkiServerVerifier| {
                    let ocsp = ocsp_response;
                    webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                };
                match (verify(webpki), &self.wider) {
                    (Err(_), Some(wider)) => verify(wider.webpki()?),
                    (verdict, _) => verdict,
                }?;
                if let Ok(mut last) = self.accepted.lock() {
                    *last = Some(Accepted {
                        end_entity: end_entity.clone().into_owned(),
                        intermediates: intermediates
                            .iter()
                            .map(|c| c.clone().into_owned())
                            .collect(),
                        server_name: server_name.to_owned(),
                        second: now.as_secs(),
                    });
                }
            }
        }
        self.handshakes.full.fetch_add(1, Ordering::Relaxed);
        Ok(ServerCertVerified::assertion())
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

/// What a TLS failure that cannot heal means to a person, in the words of
/// curl and browsers: a certificate not to be trusted, a handshake that
/// cannot succeed, an answer that is no TLS at all (a server speaking plain
/// HTTP on the port). `None` for one that may heal, such as a handshake
/// cut by the network: it is retried as any connection error.
pub(crate) fn tls_reason(error: &rustls::Error) -> Option<String> {
    use rustls::Error as E;
    Some(match error {
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
        E::InvalidCertRevocationList(_) => error.to_string(),
        E::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
            | rustls::InvalidMessage::UnknownProtocolVersion,
        ) => "the server does not speak TLS (an http:// server?)".into(),
        _ => return None,
    })
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

    /// A CA, a certificate it signs for `localhost` valid until
    /// 2030-01-01T00:00:00Z, and a self-signed one for `localhost`.
    fn chains() -> [CertificateDer<'static>; 3] {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "flags unit tests CA");
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        leaf.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
        let own_key = KeyPair::generate().unwrap();
        let own = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&own_key)
            .unwrap();
        [ca, leaf, own].map(|c| c.der().clone())
    }

    #[test]
    fn a_chain_accepted_is_accepted_again_only_where_webpki_would() {
        let [ca, leaf, self_signed] = chains();
        let trust = Trust {
            cacert: vec![ca],
            insecure: false,
        };
        let roots = trust.roots_for("http://127.0.0.1/");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = roots.verifier(&provider).unwrap();
        let verdict = |cert: &CertificateDer<'_>, name: &str, second: u64| {
            let name = ServerName::try_from(name).unwrap();
            let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(second));
            match verifier.verify_server_cert(cert, &[], &name, &[], at) {
                Ok(_) => "trusted".to_owned(),
                Err(error) => tls_reason(&error).unwrap_or_else(|| error.to_string()),
            }
        };
        // 2030-01-01T00:00:00Z, its not-after: the last second it is valid.
        let last = 1_893_456_000;
        assert_eq!(verdict(&leaf, "localhost", last), "trusted");
        assert_eq!(verdict(&leaf, "localhost", last), "trusted");
        assert_eq!(
            verdict(&leaf, "other.example", last),
            "certificate is for localhost, not other.example"
        );
        assert_eq!(
            verdict(&self_signed, "localhost", last),
            "unknown issuer: pass its CA with --cacert"
        );
        // The same chain a second later: WebPKI's verdict again.
        assert_eq!(
            verdict(&leaf, "localhost", last + 1),
            "certificate has expired"
        );
        assert_eq!(roots.handshakes.full.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn certificate_faults_read_as_a_person_says_them() {
        assert_eq!(
            tls_reason(&rustls::Error::InvalidCertificate(
                CertificateError::Expired
            ))
            .as_deref(),
            Some("certificate has expired")
        );
        let wrong_host = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("localhost").unwrap(),
            presented: vec!["DnsName(\"other.example\")".into()],
        };
        assert_eq!(
            tls_reason(&rustls::Error::InvalidCertificate(wrong_host)).as_deref(),
            Some("certificate is for other.example, not localhost")
        );
        assert!(
            tls_reason(&rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
            .is_some_and(|why| why.ends_with("pass its CA with --cacert"))
        );
    }
}
