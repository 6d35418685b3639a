//! `charfinder`: find Unicode characters by name, on the command line or
//! served over TCP and HTTP.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};

use super::serve::LimitArgs;
use super::values;
use super::{Failure, Finish, usage};
use crate::charfinder::{Index, Query, count_line, http, result_line, tcp};
use crate::server::listen::{self, Listener};
use crate::{errln, out, outln, sys};

/// Find Unicode characters by the words of their names.
#[derive(Parser, Debug)]
#[command(
    name = "charfinder",
    version,
    args_conflicts_with_subcommands = true,
    args_override_self = true,
    after_help = "Examples:\n  charfinder cat face             the characters whose names have CAT and FACE\n  charfinder tcp --port 2323      then: telnet 127.0.0.1 2323\n  charfinder http --port 8888     then open http://127.0.0.1:8888/"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Words that must all appear in a character's name (case-insensitive).
    words: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve searches over TCP, one query per line.
    #[command(version)]
    Tcp(ServeArgs<2323>),
    /// Serve the JSON API and the search page over HTTP.
    #[command(version)]
    Http(ServeArgs<8888>),
}

#[derive(clap::Args, Debug)]
struct ServeArgs<const PORT: u16> {
    /// Address or host name to listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    bind: String,
    /// Port to listen on (0 picks a free one).
    #[arg(short, long, default_value_t = PORT, value_name = "N", value_parser = values::port, allow_negative_numbers = true)]
    port: u16,
    /// Log each query to stderr.
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

impl<const PORT: u16> ServeArgs<PORT> {
    fn address(&self) -> Result<SocketAddr, Failure> {
        (self.bind.as_str(), self.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| usage(format!("cannot resolve --bind '{}'", self.bind)))
    }
}

/// Parses the command line and runs it.
pub fn run() -> Result<Finish, Failure> {
    let cli = Cli::try_parse()?;
    match cli.command {
        Some(Command::Tcp(args)) => {
            serve(args.address()?, &args.limits, args.verbose, Service::Tcp)
        }
        Some(Command::Http(args)) => {
            serve(args.address()?, &args.limits, args.verbose, Service::Http)
        }
        None => find(&cli.words),
    }
}

fn find(words: &[String]) -> Result<Finish, Failure> {
    let query = words.join(" ");
    if query.trim().is_empty() {
        return Err(usage("give one or more words, e.g. charfinder cat face"));
    }
    let query = Query::parse(&query).map_err(usage)?;
    let index = Index::build();
    let results = index.search(&query);
    let mut text = String::new();
    for info in &results {
        text.push_str(&result_line(info));
        text.push('\n');
    }
    text.push_str(&count_line(results.len(), &query.text));
    outln!("{text}");
    Ok(if results.is_empty() {
        Finish::NoMatch
    } else {
        Finish::Done
    })
}

#[derive(Clone, Copy)]
enum Service {
    Tcp,
    Http,
}

fn serve(
    addr: SocketAddr,
    limits: &LimitArgs,
    verbose: bool,
    service: Service,
) -> Result<Finish, Failure> {
    crate::logs::init(verbose);
    let started = Instant::now();
    let index = Arc::new(Index::build());
    let built = started.elapsed();
    let (chars, words) = index.stats();
    let limits = limits.limits(sys::raise_open_file_limit().unwrap_or(1024));
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let mut stop = sys::StopSignals::listen().context("cannot listen for Ctrl-C")?;
        let listener = listen::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        let listener = Listener::new(listener, limits, "charfinder");
        let limits = listener.limits();
        let local = listener.local_addr()?;
        let url = match service {
            Service::Tcp => format!("tcp://{local}"),
            Service::Http => format!("http://{local}/"),
        };
        out!(
            "Serving {chars} characters ({words} words, index built in {}) on {url} ({limits})\n",
            crate::duration::human(built)
        );
        let stopped = async {
            let why = stop.recv().await;
            errln!("{why}: stopping");
        };
        match service {
            Service::Tcp => {
                tokio::select! {
                    () = tcp::serve(index, listener) => {}
                    () = stopped => {}
                }
            }
            Service::Http => {
                let router = http::router(index);
                let peer = |_: &listen::Guarded, peer: SocketAddr| peer;
                listen::serve_http(listener, router, peer, stopped, listen::GRACE, None).await;
            }
        }
        Ok(Finish::Done)
    })
}
