//! Use cases over the core and the adapters. Ops never print: they return typed outcomes
//! and errors ([`error::Error`]) that the CLI renders and maps to exit codes.

pub mod admit;
pub mod apply;
pub mod audit;
pub mod error;
pub mod events;
pub mod fleet;
pub mod fmt;
pub mod import;
pub mod init;
pub mod inventory;
pub mod notify;
pub mod plan;
pub mod pool;
pub mod recover;
pub mod resume;
pub mod rollback;
pub mod session;
pub mod state;
pub mod status;

pub use error::{Error, ErrorClass, Refusal};
