//! flags: download country flags sequentially, with OS threads, or with async
//! tasks, from a flags server that can be slow and flaky on purpose, and make
//! the differences between the three models visible.
//!
//! The folders draw the design: [`download`] is the main job (a plan, three
//! drivers, one fetch over one client contract, one reporting path);
//! [`server`] the flags server it downloads from; [`bench`](mod@bench) runs the modes
//! side by side; [`cli`] is the face of both binaries; [`sys`] the process
//! utilities all of them use. [`dataset`] is the bundled flags, [`spin`] and
//! [`charfinder`] the chapter's two other programs.

pub mod bench;
pub mod charfinder;
pub mod cli;
pub mod costs;
pub mod dataset;
pub mod download;
pub mod duration;
pub mod files;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod logs;
pub mod server;
pub mod spin;
pub mod sys;
pub mod text;
