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

use crate::server::listen::{Guarded, Listener};

use super::{Index, MAX_QUERY_BYTES, Query, count_line, result_line};

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

/// Matches per step of a search, and lines per write: a client that does
/// not read holds at most one step's lines.
const STEP: usize = 512;

/// Serves one client until EOF or a control character. Each query line must
/// arrive within the header timeout of the prompt.
async fn serve_client(
    index: Arc<Index>,
    stream: Guarded,
    peer: SocketAddr,
    line_timeout: Duration,
) -> io::Result<()> {
    let (read, mut write) = tokio::io::split(stream);
    // Small: a query line is at most 1 KB, and idle clients are many.
    let mut reader = BufReader::with_capacity(2 * 1024, read);
    loop {
        write.write_all(PROMPT).await?;
        let line = tokio::time::timeout(line_timeout, read_line(&mut reader, MAX_QUERY_BYTES))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no query line in time"))?;
        let bytes = match line? {
            Line::Eof => break,
            Line::TooLong => {
                let message = format!("error: line longer than {MAX_QUERY_BYTES} bytes\r\n");
                write.write_all(message.as_bytes()).await?;
                continue;
            }
            Line::Bytes(bytes) => bytes,
        };
        let Ok(text) = String::from_utf8(bytes) else {
            write
                .write_all(b"error: the query is not valid UTF-8\r\n")
                .await?;
            continue;
        };
        if text.chars().any(char::is_control) {
            break;
        }
        if text.trim().is_empty() {
            continue;
        }
        let query = match Query::parse(&text) {
            Ok(query) => Arc::new(query),
            Err(why) => {
                write
                    .write_all(format!("error: {why}\r\n").as_bytes())
                    .await?;
                continue;
            }
        };
        let found = answer(&index, &query, &mut write).await?;
        tracing::info!(
            "{peer} \"{}\" -> {}",
            crate::text::inert(&query.text),
            crate::text::count(found, "result", "results")
        );
    }
    write.shutdown().await
}

/// Sends the matches of `query` and the count line, a step at a time: each
/// step is searched on the blocking pool (the workers stay free for other
/// clients) and written before the next is made (a client that does not
/// read holds one step, not a whole answer). Returns how many matched.
async fn answer(
    index: &Arc<Index>,
    query: &Arc<Query>,
    write: &mut (impl AsyncWriteExt + Unpin),
) -> io::Result<usize> {
    let mut cursor = 0;
    let mut found = 0;
    let mut text = String::new();
    while cursor != usize::MAX {
        let (searcher, search) = (Arc::clone(index), Arc::clone(query));
        let (positions, next) =
            match tokio::task::spawn_blocking(move || searcher.matches_from(&search, cursor, STEP))
                .await
            {
                Ok(step) => step,
                Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                // The runtime is shutting down: so is this connection.
                Err(_) => return Err(io::ErrorKind::Interrupted.into()),
            };
        cursor = next;
        found += positions.len();
        text.clear();
        for position in positions {
            text.push_str(&result_line(&index.info(position)));
            text.push_str("\r\n");
        }
        write.write_all(text.as_bytes()).await?;
    }
    let count = format!("{}\r\n", count_line(found, &query.text));
    write.write_all(count.as_bytes()).await?;
    Ok(found)
}

/// Accepts clients until the task is dropped, each on its own task, within
/// the listener's limits.
pub(crate) async fn serve(index: Arc<Index>, mut listener: Listener) {
    let line_timeout = listener.limits().header_timeout;
    loop {
        let (stream, peer) = listener.accept().await;
        let index = Arc::clone(&index);
        tokio::spawn(async move {
            if let Err(error) = serve_client(index, stream, peer, line_timeout).await {
                tracing::info!("{peer}: {error}");
            }
        });
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
