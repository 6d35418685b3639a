//! `charfinder`: find Unicode characters by name, on the command line or
//! served over TCP and HTTP.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use flags::charfinder::{count_line, http, result_line, tcp, Index};

/// Find Unicode characters by the words of their names.
#[derive(Parser, Debug)]
#[command(
    name = "charfinder",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  charfinder cat face\n  charfinder tcp --port 2323   (then: telnet 127.0.0.1 2323)\n  charfinder http --port 8888  (then open http://127.0.0.1:8888/)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Words that must all appear in a character's name (case-insensitive).
    words: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve searches over TCP, one query per line.
    Tcp(ServeArgs<2323>),
    /// Serve the JSON API and the search page over HTTP.
    Http(ServeArgs<8888>),
}

#[derive(clap::Args, Debug)]
struct ServeArgs<const PORT: u16> {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(short, long, default_value_t = PORT)]
    port: u16,
    /// Log each query to stderr.
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            let text = error.to_string();
            let line = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            eprintln!("charfinder: {line} (see --help)");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Some(Command::Tcp(args)) => serve(args.bind, args.port, args.verbose, Service::Tcp),
        Some(Command::Http(args)) => serve(args.bind, args.port, args.verbose, Service::Http),
        None => Ok(find(&cli.words)),
    };
    result.unwrap_or_else(|error| {
        eprintln!("charfinder: error: {error:#}");
        ExitCode::from(1)
    })
}

fn find(words: &[String]) -> ExitCode {
    let query = words.join(" ");
    if query.trim().is_empty() {
        eprintln!("charfinder: give one or more words, e.g. charfinder cat face (see --help)");
        return ExitCode::from(2);
    }
    let index = Index::build();
    let results = index.search(&query);
    let mut out = String::new();
    for info in &results {
        out.push_str(&result_line(info));
        out.push('\n');
    }
    out.push_str(&count_line(results.len(), &query));
    println!("{out}");
    if results.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(Clone, Copy)]
enum Service {
    Tcp,
    Http,
}

fn serve(bind: IpAddr, port: u16, verbose: bool, service: Service) -> Result<ExitCode> {
    let started = Instant::now();
    let index = Arc::new(Index::build());
    let built = started.elapsed();
    let (chars, words) = index.stats();
    let _ = flags::server::raise_open_file_limit();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let mut stop = flags::server::StopSignals::listen().context("cannot listen for Ctrl-C")?;
        let addr = SocketAddr::new(bind, port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let url = match service {
            Service::Tcp => format!("tcp://{local}"),
            Service::Http => format!("http://{local}/"),
        };
        println!("Serving {chars} characters ({words} words, index built in {built:.0?}) on {url}");
        let served = async {
            match service {
                Service::Tcp => tcp::serve(index, listener, verbose).await,
                Service::Http => {
                    axum::serve(listener, http::router(index, verbose))
                        .await
                        .context("HTTP server failed")?;
                }
            }
            anyhow::Ok(())
        };
        tokio::select! {
            result = served => result?,
            why = stop.recv() => eprintln!("{why}: stopping"),
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
