//! Use cases over the core and the adapters. Ops never print: they return typed outcomes
//! and errors that the CLI renders.

pub mod apply;
pub mod inventory;
pub mod recover;
