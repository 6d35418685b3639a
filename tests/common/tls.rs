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

/// A CA of the tests' own.
fn ca() -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "flags tests CA");
    (params.self_signed(&key).unwrap(), key)
}

/// Starts an HTTPS server showing `cert`.
pub fn tls_site(cert: Cert) -> TlsSite {
    let (ca_cert, ca_key) = ca();
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
        _ => params.signed_by(&key, &ca_cert, &ca_key).unwrap(),
    };
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = dir.path().join("ca.pem");
    std::fs::File::create(&ca_pem)
        .unwrap()
        .write_all(ca_cert.pem().as_bytes())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
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
                        if let Ok(mut tls) = acceptor.accept(tcp).await {
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
