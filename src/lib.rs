//! flags: download country flags sequentially, with OS threads, or with async
//! tasks, from a flags server that can be slow and flaky on purpose, and make
//! the differences between the three models visible.
//!
//! The pieces, in the order a download goes through them:
//! [`plan`] (what to fetch), [`drivers`] (how: the only part that differs
//! between modes), [`fetch`] (one flag, blocking or async), [`outcome`]
//! (statuses), [`report`] (progress, summary, JSON), [`store`] (atomic saves).
//! [`server`] is the flags server, [`dataset`] the bundled flags.

pub mod bench;
pub mod charfinder;
pub mod dataset;
pub mod download;
pub mod server;
pub mod spin;
