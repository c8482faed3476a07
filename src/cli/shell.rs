//! The one output handle, in the manner of cargo's `Shell`: colour, stdout/stderr,
//! progress bars on a terminal only, and the confirmation prompt.

use crate::cli::render::Style;
use std::io::{BufRead, IsTerminal, Write};

pub struct Shell {
    pub style: Style,
    /// Log lines go to stderr (`KEYROT_LOG`): no progress bar to draw over them.
    logging: bool,
}

/// Where log lines go (`cli/log.rs`): stderr, never stdout (which may be JSON or a secret).
pub fn log_writer() -> std::io::Stderr {
    std::io::stderr()
}

impl Shell {
    /// Colour only on a terminal, never with `--no-color` or a non-empty `NO_COLOR`.
    pub fn new(no_color: bool, logging: bool) -> Self {
        let color = !no_color
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        Shell {
            style: Style { color },
            logging,
        }
    }

    /// A line on stdout. A closed stdout (a reader that went away) is not worth a panic
    /// in the middle of a step: what was done is in state either way.
    pub fn out(&self, text: impl std::fmt::Display) {
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }

    /// Text on stdout as it is (renderers end their own lines).
    pub fn print(&self, text: impl std::fmt::Display) {
        let _ = write!(std::io::stdout().lock(), "{text}");
    }

    /// Stdout for output written piece by piece (a fleet's plan), buffered: no line of it
    /// costs a write of its own, and it never has to exist whole in memory.
    pub fn stdout(&self) -> std::io::BufWriter<std::io::StdoutLock<'static>> {
        std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock())
    }

    pub fn warn(&self, text: impl std::fmt::Display) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "{} {text}",
            self.style.yellow("Warning:")
        );
    }

    /// Context for a person on stderr, out of the way of stdout (which may be JSON).
    pub fn note(&self, text: impl std::fmt::Display) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}",
            self.style.dim(&text.to_string())
        );
    }

    /// A line on stderr as it is (a continuation of an error).
    pub fn err_line(&self, text: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }

    pub fn error(&self, text: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr().lock(), "Error: {text}");
    }

    /// A progress bar over `total` steps on a terminal's stderr; hidden otherwise, and
    /// while logs are written there.
    pub fn progress(&self, total: usize) -> indicatif::ProgressBar {
        if std::io::stderr().is_terminal() && !self.logging {
            indicatif::ProgressBar::new(total as u64)
        } else {
            indicatif::ProgressBar::hidden()
        }
    }

    /// A bar for reading IAM on a terminal's stderr (hidden otherwise), cleared when the
    /// last handle to it is dropped: it never stays above the plan.
    pub fn reading_bar(&self) -> indicatif::ProgressBar {
        let style = indicatif::ProgressStyle::with_template(
            "Reading IAM [{bar:30}] {pos}/{len} calls ({elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        self.progress(0)
            .with_style(style)
            .with_finish(indicatif::ProgressFinish::AndClear)
    }

    /// Whether a person can answer a prompt: stdin is a terminal.
    pub fn can_prompt(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    /// Terraform's prompt: only `yes` approves. EOF declines.
    pub fn confirm(&self) -> std::io::Result<bool> {
        let mut stdout = std::io::stdout().lock();
        write!(stdout, "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")?;
        stdout.flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim() == "yes")
    }
}
