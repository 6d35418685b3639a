//! The integration tests, one binary (as ripgrep's and xh's are): the
//! library and the helpers are linked once, not once per file. Each module
//! of `cases/` tests one concern against the real binaries and servers on
//! 127.0.0.1; `common/` holds the helpers and the lying server.

mod common;

mod cases {
    mod attack;
    mod bench;
    mod charfinder;
    mod cli;
    mod connections;
    mod contract;
    mod costs;
    mod docs;
    mod download;
    mod faults;
    mod first_run;
    #[cfg(feature = "fuzzing")]
    mod fuzz_corpora;
    mod hostile;
    mod names;
    mod process;
    mod server;
    mod spin;
    mod timeline;
    mod tls;
}
