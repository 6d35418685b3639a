//! Downloading flags: the plan all modes share, the three drivers that are
//! the only part that differs, the per-flag fetch over one client contract,
//! and the statuses, progress and saving every mode reports through.

pub mod cancel;
pub mod contract;
pub mod drivers;
pub mod fetch;
pub mod plan;
pub mod progress;
pub mod status;
pub mod store;
