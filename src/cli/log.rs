//! Logs for operators: `KEYROT_LOG` turns them on, to stderr, as text or JSON lines
//! (`--log-format`). Unset, nothing is installed and stderr is exactly as without logs.
//! A level is keyrot's (other crates' warnings come too; at `trace`, also their debug
//! lines); anything else is `EnvFilter` directives, e.g. `keyrot::aws=debug,aws_config=debug`.
//!
//! Whatever the directives say, events of other crates are capped at `debug`: the AWS SDK
//! logs requests and responses with their bodies (`aws_smithy_runtime`, also with
//! `LOG_SENSITIVE_BODIES`), the signing inputs (`aws_sigv4`) and the resolved identity only
//! at `trace`, so no directive can make a secret reach the log.

use crate::cli::shell;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The most any crate but keyrot may log.
const OTHER_CRATES_CAP: Level = Level::DEBUG;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// keyrot's own events at any level the directives ask; everyone else's at most `debug`.
fn cap() -> Targets {
    Targets::new()
        .with_default(OTHER_CRATES_CAP)
        .with_target("keyrot::", Level::TRACE)
}

/// The directives a bare level stands for: keyrot's events at that level, other crates'
/// warnings (their debug lines at `trace`: the SDK is chatty, some 25 lines per call).
fn expand(directives: &str) -> String {
    match directives.parse::<LevelFilter>() {
        Ok(LevelFilter::TRACE) => {
            format!("{},keyrot=trace", LevelFilter::from_level(OTHER_CRATES_CAP))
        }
        Ok(level) if level > LevelFilter::WARN => format!("warn,keyrot={level}"),
        _ => directives.to_string(),
    }
}

/// Installs the subscriber when `directives` (KEYROT_LOG) is set and not empty. Returns
/// whether logs are on; a directive that does not parse is an error naming it.
pub fn install(directives: Option<&str>, format: LogFormat) -> Result<bool, String> {
    let Some(directives) = directives.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(false);
    };
    let filter = EnvFilter::builder()
        .parse(expand(directives))
        .map_err(|e| {
            format!(
                "KEYROT_LOG={directives:?} is not a log filter: {e}\n  hint: give a level (error, \
             warn, info, debug, trace) or directives like `keyrot::aws=debug,info`"
            )
        })?;
    let filter = filter.and(cap());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(shell::log_writer)
        .with_ansi(false);
    let installed = match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(layer.json().flatten_event(true).with_filter(filter))
            .try_init(),
    };
    installed.map_err(|e| format!("cannot start logging: {e}"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap knows no crate by name: everything but keyrot stops at debug.
    #[test]
    fn other_crates_never_log_at_trace_whatever_the_directives() {
        let cap = cap();
        assert!(cap.would_enable("keyrot::aws", &Level::TRACE));
        assert!(cap.would_enable("keyrot::adapters::store", &Level::TRACE));
        assert!(cap.would_enable("any_sdk::client::orchestrator", &Level::DEBUG));
        for target in [
            "any_sdk::client::orchestrator",
            "hyper_util::client",
            "h2::codec::framed_write",
            "keyrotten",
        ] {
            assert!(
                !cap.would_enable(target, &Level::TRACE),
                "{target} at trace"
            );
        }
    }

    #[test]
    fn a_bare_level_is_keyrots_and_directives_are_kept() {
        assert_eq!(expand("info"), "warn,keyrot=info");
        assert_eq!(expand("DEBUG"), "warn,keyrot=debug");
        assert_eq!(expand("trace"), "debug,keyrot=trace");
        assert_eq!(expand("warn"), "warn");
        assert_eq!(expand("off"), "off");
        assert_eq!(expand("keyrot::aws=debug"), "keyrot::aws=debug");
    }

    #[test]
    fn unset_or_empty_installs_nothing_and_bad_directives_say_so() {
        assert_eq!(install(None, LogFormat::Text), Ok(false));
        assert_eq!(install(Some("  "), LogFormat::Json), Ok(false));
        let err = install(Some("keyrot=loud"), LogFormat::Text).unwrap_err();
        assert!(err.contains("KEYROT_LOG=\"keyrot=loud\""), "{err}");
        assert!(err.contains("hint:"), "{err}");
    }
}
