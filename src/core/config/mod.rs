//! The declarative config: HCL text in, a validated [`Config`] or every problem at once.
//!
//! Parsing walks a syntax tree (`syntax`) rather than using serde, because only a tree
//! keeps positions, and users need `file:line:column` on semantic errors too.

mod account;
mod attrs;
mod backend;
mod blocks;
mod cert;
mod confirm;
mod digest;
pub mod format;
mod notify;
mod selector;
mod sink;
mod syntax;
mod types;
mod walker;

#[cfg(test)]
mod account_tests;
#[cfg(test)]
mod selector_tests;
#[cfg(test)]
mod tests;

pub use types::{
    AccountSpec, AwsSettings, CertSource, Channel, Check, Chosen, Config, Confirm, DisplaySettings,
    ExecEnv, KeyAlgorithm, Notify, OnConfirmFailure, RetryMode, S3Backend, SecretFormat, Selection,
    Selector, SetConfig, SetTemplate, Sink, Windows,
};

use crate::core::diagnostic::Diagnostic;
use walker::Walker;

/// One config file's name (as shown in errors) and text.
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Parses and validates all sources together; returns every problem found, in order.
pub fn parse(sources: &[Source]) -> Result<Config, Vec<Diagnostic>> {
    parse_with_warnings(sources).map(|(config, _)| config)
}

/// As [`parse`], with what was accepted but deserves a look (positioned like errors).
pub fn parse_with_warnings(
    sources: &[Source],
) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut walker = Walker::default();
    for source in sources {
        walker.file(source);
    }
    walker.finish_with_warnings()
}
