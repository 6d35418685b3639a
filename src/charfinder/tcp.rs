//! `charfinder tcp`: a line-oriented search service, one tokio task per client.
//!
//! Each client gets a `?> ` prompt, sends a query line, and receives the
//! result lines and the count line, all ending in CRLF. EOF or a line holding
//! a control character closes the connection; a line that is too long or not
//! UTF-8 gets an error line and the prompt again.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::{count_line, result_line, Index, MAX_QUERY_BYTES};
use crate::errln;

/// The prompt sent before each query.
pub(crate) const PROMPT: &[u8] = b"?> ";

/// What one read of a client's line gave.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// The client closed its side.
    Eof,
    /// A line longer than the limit (the rest of it was discarded).
    TooLong,
    /// A line, without its line end.
    Bytes(Vec<u8>),
}

/// Reads one line of at most `max` bytes.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, max: usize) -> io::Result<Line> {
    let mut buf = Vec::new();
    let n = (&mut *reader)
        .take(max as u64 + 2)
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 {
        return Ok(Line::Eof);
    }
    let complete = buf.last() == Some(&b'\n');
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    if buf.len() > max {
        if !complete {
            // Discard the rest of the line, however long.
            loop {
                let mut rest = Vec::new();
                let n = (&mut *reader)
                    .take(64 * 1024)
                    .read_until(b'\n', &mut rest)
                    .await?;
                if n == 0 || rest.last() == Some(&b'\n') {
                    break;
                }
            }
        }
        return Ok(Line::TooLong);
    }
    Ok(Line::Bytes(buf))
}

/// Serves one client until EOF or a control character.
async fn serve_client(
    index: Arc<Index>,
    stream: TcpStream,
    peer: SocketAddr,
    verbose: bool,
) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        write.write_all(PROMPT).await?;
        let bytes = match read_line(&mut reader, MAX_QUERY_BYTES).await? {
            Line::Eof => break,
            Line::TooLong => {
                let message = format!("error: line longer than {MAX_QUERY_BYTES} bytes\r\n");
                write.write_all(message.as_bytes()).await?;
                continue;
            }
            Line::Bytes(bytes) => bytes,
        };
        let Ok(query) = String::from_utf8(bytes) else {
            write
                .write_all(b"error: the query is not valid UTF-8\r\n")
                .await?;
            continue;
        };
        if query.chars().any(char::is_control) {
            break;
        }
        if query.trim().is_empty() {
            continue;
        }
        let results = index.search(&query);
        if verbose {
            let found = crate::text::count(results.len(), "result", "results");
            errln!("{peer} {query:?} -> {found}");
        }
        let mut answer = String::new();
        for info in &results {
            answer.push_str(&result_line(info));
            answer.push_str("\r\n");
        }
        answer.push_str(&count_line(results.len(), &query));
        answer.push_str("\r\n");
        write.write_all(answer.as_bytes()).await?;
    }
    write.shutdown().await
}

/// Accepts clients forever, each on its own task.
pub(crate) async fn serve(index: Arc<Index>, listener: TcpListener, verbose: bool) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let index = Arc::clone(&index);
                tokio::spawn(async move {
                    if let Err(error) = serve_client(index, stream, peer, verbose).await {
                        if verbose {
                            errln!("{peer}: {error}");
                        }
                    }
                });
            }
            Err(error) => {
                // Out of file descriptors and the like: wait for clients to leave.
                errln!("charfinder: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_read_within_the_limit() {
        let input: &[u8] = b"cat face\r\nxx\n";
        let mut reader = BufReader::new(input);
        assert_eq!(
            read_line(&mut reader, 10).await.unwrap(),
            Line::Bytes(b"cat face".to_vec())
        );
        assert_eq!(
            read_line(&mut reader, 10).await.unwrap(),
            Line::Bytes(b"xx".to_vec())
        );
        assert_eq!(read_line(&mut reader, 10).await.unwrap(), Line::Eof);

        let long = [b"a".repeat(100), b"\nok\n".to_vec()].concat();
        let mut reader = BufReader::new(long.as_slice());
        assert_eq!(read_line(&mut reader, 10).await.unwrap(), Line::TooLong);
        assert_eq!(
            read_line(&mut reader, 10).await.unwrap(),
            Line::Bytes(b"ok".to_vec())
        );
    }
}
