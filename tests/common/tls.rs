//! HTTPS servers for the tests, with certificates the tests make (rcgen):
//! a good one signed by a CA of their own, and the broken ones a client
//! must refuse. Each answers `GET /flags/<cc>/<cc>.gif` with the data
//! set's flag over HTTP/1.1, one request a connection, on 127.0.0.1.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::common::liar::{Expect, Saved};

/// Which certificate the server shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cert {
    /// For localhost and 127.0.0.1, signed by the site's CA.
    Good,
    /// Good but for its dates: it expired in 2021.
    Expired,
    /// Good but for its dates: it is valid from 2100.
    NotYetValid,
    /// Good, but the server speaks only h2 and ends with an alert the
    /// handshake of a client that offers only HTTP/1.1.
    RefusesHandshake,
    /// Signed by the site's CA, for other.example.
    OtherHost,
    /// For localhost, signed by itself.
    SelfSigned,
    /// Good, but the body is cut halfway and the connection closed with
    /// no close_notify.
    CutBody,
    /// Signed by an intermediate CA the server does not send (the site's
    /// CA signed the intermediate).
    MissingIntermediate,
    /// Good, but the server speaks TLS 1.2 alone, with RSA suites only
    /// for its ECDSA key: it refuses every handshake.
    NoCipherInCommon,
    /// None shown: the server speaks plain HTTP on the port, and answers
    /// the ClientHello with a 400, as an http:// server does.
    PlainHttp,
}

/// Whom a scenario's client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The site's CA, with `--cacert`.
    SiteCa,
    /// Only the system's store, which has no CA of the tests.
    System,
}

/// One way an HTTPS server can fail its client, with the verdict every
/// mode must reach on it: the TLS rows of the conformance matrix
/// (tests/cases/contract.rs, docs/reliability.md).
#[derive(Debug, Clone, Copy)]
pub struct TlsScenario {
    /// Its name.
    pub name: &'static str,
    /// What the server does, in words.
    pub what: &'static str,
    /// The certificate it shows; `None`: it never answers the ClientHello.
    pub cert: Option<Cert>,
    /// Whom the client trusts.
    pub trust: Trust,
    /// What the client must conclude of one flag.
    pub expect: Expect,
}

impl TlsScenario {
    /// Whether the verdict is for good: a broken certificate or
    /// handshake, never retried (a stall or a cut body may heal).
    pub fn permanent(&self) -> bool {
        matches!(self.expect, Expect::Error(reason) if reason.starts_with("TLS: "))
    }
}

/// Every TLS scenario.
pub const TLS_SCENARIOS: &[TlsScenario] = &[
    TlsScenario {
        name: "good",
        what: "a certificate for localhost from the CA passed with `--cacert`",
        cert: Some(Cert::Good),
        trust: Trust::SiteCa,
        expect: Expect::Ok(Saved::Flag),
    },
    TlsScenario {
        name: "unknown-issuer",
        what: "the same, its CA not passed",
        cert: Some(Cert::Good),
        trust: Trust::System,
        expect: Expect::Error("TLS: unknown issuer: pass its CA with --cacert"),
    },
    TlsScenario {
        name: "self-signed",
        what: "a certificate signed by its own key",
        cert: Some(Cert::SelfSigned),
        trust: Trust::SiteCa,
        expect: Expect::Error("TLS: unknown issuer: pass its CA with --cacert"),
    },
    TlsScenario {
        name: "missing-intermediate",
        what: "a certificate from an intermediate CA it does not send",
        cert: Some(Cert::MissingIntermediate),
        trust: Trust::SiteCa,
        expect: Expect::Error("TLS: unknown issuer: pass its CA with --cacert"),
    },
    TlsScenario {
        name: "expired",
        what: "a certificate that expired in 2021",
        cert: Some(Cert::Expired),
        trust: Trust::SiteCa,
        expect: Expect::Error("TLS: certificate has expired"),
    },
    TlsScenario {
        name: "not-yet-valid",
        what: "a certificate valid from 2100",
        cert: Some(Cert::NotYetValid),
        trust: Trust::SiteCa,
        expect: Expect::Error("TLS: certificate is not valid yet"),
    },
    TlsScenario {
        name: "other-host",
        what: "a certificate for other.example",
        cert: Some(Cert::OtherHost),
        trust: Trust::SiteCa,
        expect: Expect::Error("TLS: certificate is for other.example, not localhost"),
    },
    TlsScenario {
        name: "no-cipher-in-common",
        what: "TLS 1.2 alone, with no suite for its key: it refuses the handshake",
        cert: Some(Cert::NoCipherInCommon),
        trust: Trust::SiteCa,
        expect: Expect::Error("TLS: the server refused the handshake"),
    },
    TlsScenario {
        name: "no-http-version-in-common",
        what: "h2 alone by ALPN, to a client offering HTTP/1.1: it ends the handshake",
        cert: Some(Cert::RefusesHandshake),
        trust: Trust::SiteCa,
        expect: Expect::Error("TLS: the server ended the handshake: no HTTP version in common"),
    },
    TlsScenario {
        name: "plain-http",
        what: "an http:// server: a 400 in plain text to the ClientHello",
        cert: Some(Cert::PlainHttp),
        trust: Trust::SiteCa,
        expect: Expect::Error("TLS: the server does not speak TLS (an http:// server?)"),
    },
    TlsScenario {
        name: "handshake-stall",
        what: "accepts the connection, never answers the ClientHello",
        cert: None,
        trust: Trust::SiteCa,
        expect: Expect::Error("timed out"),
    },
    TlsScenario {
        name: "cut-without-close-notify",
        what: "half the body, then the connection closed without close_notify",
        cert: Some(Cert::CutBody),
        trust: Trust::SiteCa,
        expect: Expect::Error("truncated body"),
    },
];

/// A running server of either kind, for a scenario.
pub enum AnySite {
    /// One that speaks TLS.
    Tls(TlsSite),
    /// One that never does.
    Silent(SilentSite),
}

impl AnySite {
    /// Starts the server of `scenario`.
    pub fn start(scenario: &TlsScenario) -> Self {
        match scenario.cert {
            Some(cert) => AnySite::Tls(tls_site(cert)),
            None => AnySite::Silent(silent_site()),
        }
    }

    /// `https://localhost:PORT/flags`.
    pub fn base_url(&self) -> &str {
        match self {
            AnySite::Tls(site) => &site.base_url,
            AnySite::Silent(site) => &site.base_url,
        }
    }
}

/// A running HTTPS server; stopped when dropped.
pub struct TlsSite {
    /// `https://localhost:PORT/flags`.
    pub base_url: String,
    /// The site's CA certificate, as PEM.
    pub ca_pem: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<thread::JoinHandle<()>>,
}

impl Drop for TlsSite {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// A CA of the tests' own named `name`: self-signed, or an intermediate
/// signed by `parent`.
fn ca(
    name: &str,
    parent: Option<(&rcgen::Certificate, &KeyPair)>,
) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = match parent {
        None => params.self_signed(&key),
        Some((parent, parent_key)) => params.signed_by(&key, parent, parent_key),
    };
    (cert.unwrap(), key)
}

/// Starts an HTTPS server showing `cert`.
pub fn tls_site(cert: Cert) -> TlsSite {
    let (ca_cert, ca_key) = ca("flags tests CA", None);
    let key = KeyPair::generate().unwrap();
    let names = match cert {
        Cert::OtherHost => vec!["other.example".to_owned()],
        _ => vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
    };
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "flags tests server");
    if cert == Cert::Expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    if cert == Cert::NotYetValid {
        params.not_before = rcgen::date_time_ymd(2100, 1, 1);
        params.not_after = rcgen::date_time_ymd(2101, 1, 1);
    }
    let leaf = match cert {
        Cert::SelfSigned => params.self_signed(&key).unwrap(),
        Cert::MissingIntermediate => {
            let (intermediate, intermediate_key) =
                ca("flags tests intermediate CA", Some((&ca_cert, &ca_key)));
            params
                .signed_by(&key, &intermediate, &intermediate_key)
                .unwrap()
        }
        _ => params.signed_by(&key, &ca_cert, &ca_key).unwrap(),
    };
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = dir.path().join("ca.pem");
    std::fs::File::create(&ca_pem)
        .unwrap()
        .write_all(ca_cert.pem().as_bytes())
        .unwrap();
    let mut provider = rustls::crypto::ring::default_provider();
    let versions: &[&rustls::SupportedProtocolVersion] = if cert == Cert::NoCipherInCommon {
        provider.cipher_suites.retain(|suite| {
            suite.version() == &rustls::version::TLS12
                && format!("{:?}", suite.suite()).contains("_RSA_")
        });
        &[&rustls::version::TLS12]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = match cert {
        Cert::RefusesHandshake => vec![b"h2".to_vec()],
        _ => vec![b"http/1.1".to_vec()],
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel();
    let server = thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let accepting = async {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        if cert == Cert::PlainHttp {
                            let _ = refuse_in_plain_text(tcp).await;
                        } else if let Ok(mut tls) = acceptor.accept(tcp).await {
                            let _ = answer(&mut tls, cert == Cert::CutBody).await;
                        }
                    });
                }
            };
            tokio::select! {
                () = accepting => {}
                _ = stopped => {}
            }
        });
    });
    TlsSite {
        base_url: format!("https://localhost:{port}/flags"),
        ca_pem,
        _dir: dir,
        stop: Some(stop),
        server: Some(server),
    }
}

/// Reads one request's head and answers it with the flag it names (or
/// 404), then closes the connection with a close_notify; with `cut`, sends
/// half the body and drops the connection without one.
async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    cut: bool,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let flag = path
        .strip_prefix("/flags/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|cc| flags::dataset::flag_gif(&cc.to_uppercase()));
    let (status, body) = match flag {
        Some(gif) => ("200 OK", gif.to_vec()),
        None => ("404 Not Found", b"not found".to_vec()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: image/gif\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    if cut {
        stream.write_all(&body[..body.len() / 2]).await?;
        return stream.flush().await;
    }
    stream.write_all(&body).await?;
    stream.shutdown().await
}

/// Answers whatever arrives first with a 400 in plain HTTP and closes, as
/// a cleartext server answers a ClientHello.
async fn refuse_in_plain_text(mut tcp: tokio::net::TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    let _ = tcp.read(&mut buf).await?;
    let answer = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    tcp.write_all(answer.as_bytes()).await?;
    tcp.shutdown().await
}

/// A server that accepts connections and never says a word: a TLS
/// handshake to it stalls. Stopped when dropped.
pub struct SilentSite {
    /// `https://localhost:PORT/flags`.
    pub base_url: String,
    _listener: std::net::TcpListener,
}

/// Starts a [`SilentSite`]: the kernel completes the TCP handshake from
/// the listen backlog, and nothing answers the ClientHello.
pub fn silent_site() -> SilentSite {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    SilentSite {
        base_url: format!("https://localhost:{port}/flags"),
        _listener: listener,
    }
}
