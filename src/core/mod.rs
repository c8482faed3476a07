//! The pure core: config model and validation, inventory/state/plan types, the planner and
//! the rotation state machine. No I/O, no async, no clock, no environment; imports nothing
//! outside `core`.

pub mod audit;
pub mod concurrency;
pub mod config;
pub mod diagnostic;
pub mod duration;
pub mod event;
pub mod model;
pub mod notify;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod selection;
pub mod state;
pub mod weburl;
