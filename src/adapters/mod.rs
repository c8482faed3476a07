//! The world keyrot talks to: the ports (`iam::Iam`, `remote::Remote`) and their AWS
//! implementations, sinks, the state store, journal and lock, certificate tooling.

pub mod accounts;
pub mod aws;
pub mod blocking;
pub mod certs;
pub mod command;
pub mod confirm;
pub mod crash;
pub mod fsutil;
pub mod http;
pub mod iam;
pub mod process;
pub mod remote;
pub mod sinks;
pub mod store;
