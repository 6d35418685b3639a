//! `flags serve` and `charfinder http` fed arbitrary bytes in-process: the
//! listener's own HTTP/1.1 and HTTP/2 service over an in-memory connection.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::config::{DataSource, ServerConfig};
use crate::server::connection::Connection;
use crate::server::folder::Folder;
use crate::server::handler::{ServerState, router};
use crate::server::listen::{Busy, Limits, connection_service, http_builder};

/// The bytes of a file placed beside the served folder, never to be served.
const SECRET: &[u8] = b"FUZZ-SECRET-7f3a9c";

/// The runtime every in-memory connection is served on.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
});

/// A folder to serve with `--dir`: two countries copied from the data set,
/// a secret file beside it, and links that lead to the secret.
static FOLDER: LazyLock<(tempfile::TempDir, PathBuf)> = LazyLock::new(|| {
    let root = tempfile::tempdir().expect("a temporary folder");
    let served = root.path().join("flags");
    for cc in ["br", "ad"] {
        let dir = served.join(cc);
        std::fs::create_dir_all(&dir).expect("a folder");
        let gif = crate::dataset::embedded_file(&format!("{cc}/{cc}.gif")).expect("bundled");
        let meta = crate::dataset::embedded_file(&format!("{cc}/metadata.json")).expect("bundled");
        std::fs::write(dir.join(format!("{cc}.gif")), gif).expect("a write");
        std::fs::write(dir.join("metadata.json"), meta).expect("a write");
    }
    std::fs::write(root.path().join("secret"), SECRET).expect("a write");
    std::fs::create_dir_all(served.join("zz")).expect("a folder");
    std::os::unix::fs::symlink("../../secret", served.join("zz/zz.gif")).expect("a link");
    std::os::unix::fs::symlink("../secret", served.join("zz/metadata.json")).expect("a link");
    (root, served)
});

/// The embedded server's state, made once.
static EMBEDDED: LazyLock<Arc<ServerState>> =
    LazyLock::new(|| Arc::new(ServerState::new(ServerConfig::default(), None)));

/// The `--dir` server's state, made once.
static FROM_DIR: LazyLock<Arc<ServerState>> = LazyLock::new(|| {
    let (_, served) = &*FOLDER;
    let config = ServerConfig {
        source: DataSource::Dir(served.clone()),
        ..ServerConfig::default()
    };
    let folder = Folder::open(served, config.recheck).expect("the served folder");
    Arc::new(ServerState::new(config, Some(folder)))
});

/// Limits with short timeouts: an input that leaves a request unfinished
/// costs a second, not ten.
fn limits() -> Limits {
    let mut limits = Limits::with_open_files(1024);
    limits.header_timeout = Duration::from_secs(1);
    limits.idle_timeout = Duration::from_secs(1);
    limits
}

/// The flags server, from the data set and from a folder (`--dir`), fed
/// the input as one connection: it answers with valid HTTP (every HTTP/1.1
/// answer a well-formed response, a 200 only with a file of the data set
/// as its body, byte for byte; HTTP/2 for the HTTP/2 preface), never with
/// the file beside the folder, and never panics.
pub fn serve_flags(data: &[u8]) {
    let embedded = router(Arc::clone(&EMBEDDED));
    check_answer(
        data,
        &serve(embedded, Connection { fd: None }, data),
        flag_files,
    );
    let answer = serve(router(Arc::clone(&FROM_DIR)), Connection { fd: None }, data);
    assert!(
        !answer.windows(SECRET.len()).any(|w| w == SECRET),
        "the file beside the folder was served: {:?}",
        String::from_utf8_lossy(&answer)
    );
    check_answer(data, &answer, flag_files);
}

/// Whether `body` is a file of the data set.
fn flag_files(body: &[u8]) -> bool {
    crate::dataset::country_codes().iter().any(|code| {
        let cc = code.to_ascii_lowercase();
        [format!("{cc}/{cc}.gif"), format!("{cc}/metadata.json")]
            .iter()
            .any(|path| crate::dataset::embedded_file(path) == Some(body))
    })
}

/// `charfinder http` fed the input as one connection: valid HTTP, a 200
/// is the page or a JSON search answer of at most a page, never a panic.
pub fn serve_charfinder(data: &[u8]) {
    let index = Arc::clone(&super::charfinder::INDEX);
    let app = crate::charfinder::http::router(index);
    let answer = serve(app, (), data);
    check_answer(data, &answer, |body| {
        if body == crate::charfinder::http::PAGE.as_bytes() {
            return true;
        }
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(page) => page["chars"]
                .as_array()
                .is_some_and(|chars| chars.len() <= crate::charfinder::MAX_PAGE),
            Err(_) => false,
        }
    });
}

/// Serves `data` as one connection (then the end of input) and returns
/// all the service sent.
fn serve<T: Clone + Send + Sync + 'static>(router: axum::Router, info: T, data: &[u8]) -> Vec<u8> {
    let data = data.to_vec();
    RUNTIME.block_on(async move {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let service = connection_service(router, info, Busy::default());
        let builder = http_builder(limits());
        let connection = tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(server);
            let _ = builder.serve_connection(io, service).await;
        });
        let (mut read, mut write) = tokio::io::split(client);
        let send = async move {
            let _ = write.write_all(&data).await;
            let _ = write.shutdown().await;
        };
        let receive = async move {
            let mut answer = Vec::new();
            let _ = read.read_to_end(&mut answer).await;
            answer
        };
        let ((), answer) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(send, receive)
        })
        .await
        .expect("the connection ends within 10 s of its input");
        connection.abort();
        answer
    })
}

/// The HTTP/2 connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Checks what a server sent for `data`: HTTP/2 frames for the HTTP/2
/// preface (starting with SETTINGS); otherwise a sequence of HTTP/1.1
/// responses, each well formed and framed, a 200's body accepted by `ok`.
fn check_answer(data: &[u8], answer: &[u8], ok: impl Fn(&[u8]) -> bool) {
    if data.starts_with(PREFACE) {
        if answer.len() >= 9 {
            assert_eq!(answer[3], 4, "an HTTP/2 server speaks first with SETTINGS");
        }
        return;
    }
    if data.len() < PREFACE.len() && PREFACE.starts_with(data) {
        return; // the start of a preface: the server waits to tell which
    }
    let methods = request_methods(data);
    let mut rest = answer;
    let mut n = 0;
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let head = match response.parse(rest) {
            Ok(httparse::Status::Complete(head)) => head,
            other => panic!(
                "answer {n} is not an HTTP response ({other:?}): {:?}",
                String::from_utf8_lossy(rest)
            ),
        };
        let status = response.code.expect("a complete head has a status");
        // HTTP/1.1, or HTTP/1.0 to a request in HTTP/1.0.
        assert!(matches!(response.version, Some(0 | 1)), "answer {n}");
        assert!((100..=599).contains(&status), "answer {n}: {status}");
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let body_and_rest = &rest[head..];
        // No answer of these servers has a body that starts like a status
        // line: where the requests did not parse here (hyper reads some
        // that httparse's defaults refuse), that, or the end, tells a
        // HEAD's answer.
        let head_only = methods.get(n).is_some_and(|m| m == "HEAD")
            || body_and_rest.is_empty()
            || body_and_rest.starts_with(b"HTTP/1.")
            || status < 200
            || status == 204
            || status == 304;
        let (body, after): (Vec<u8>, &[u8]) = if head_only {
            (Vec::new(), body_and_rest)
        } else if let Some(length) = header("content-length") {
            let length: usize = length.trim().parse().expect("a length");
            assert!(body_and_rest.len() >= length, "answer {n}: body cut short");
            (body_and_rest[..length].to_vec(), &body_and_rest[length..])
        } else if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
            dechunk(body_and_rest).unwrap_or_else(|| panic!("answer {n}: bad chunks"))
        } else {
            (body_and_rest.to_vec(), &[][..])
        };
        if status == 200 && !head_only {
            assert!(
                ok(&body),
                "answer {n}: a 200 with an unexpected body of {} bytes: {:?}",
                body.len(),
                String::from_utf8_lossy(&body[..body.len().min(200)])
            );
        }
        rest = after;
        n += 1;
    }
}

/// A chunked body and what follows it, or `None` when the chunks are bad.
pub(super) fn dechunk(mut input: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut body = Vec::new();
    loop {
        let line_end = input.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&input[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        input = &input[line_end + 2..];
        if size == 0 {
            // Trailers, then a blank line.
            loop {
                let end = input.windows(2).position(|w| w == b"\r\n")?;
                input = &input[end + 2..];
                if end == 0 {
                    return Some((body, input));
                }
            }
        }
        if input.len() < size + 2 || &input[size..size + 2] != b"\r\n" {
            return None;
        }
        body.extend_from_slice(&input[..size]);
        input = &input[size + 2..];
    }
}

/// The methods of the requests in `data`, as far as they parse.
fn request_methods(mut data: &[u8]) -> Vec<String> {
    let mut methods = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = request.parse(data) else {
            return methods;
        };
        methods.push(request.method.unwrap_or_default().to_owned());
        let length = request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| {
                std::str::from_utf8(h.value)
                    .ok()?
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or(0);
        data = data.get(head + length..).unwrap_or_default();
    }
}
