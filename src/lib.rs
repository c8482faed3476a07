//! keyrot: Terraform-style plan/apply for rotating AWS IAM credentials without downtime.
//!
//! Four floors, each importing only from the ones below it:
//! `cli` (terminal) → `ops` (use cases, typed outcomes, never print) →
//! `core` (pure: no I/O, async, clock or env) and `adapters` (AWS, state files, sinks).

pub mod adapters;
pub mod cli;
pub mod core;
pub mod ops;
