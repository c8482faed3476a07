//! Renderers over the one plan model: the text and JSON outputs cannot disagree.

pub mod json;
pub mod log;
pub mod markdown;
pub mod status;
pub mod text;

pub use crate::core::model::timestamp;
use std::{fmt, io};

/// An `io::Write` that the text renderers (`fmt::Write`) can write into; keeps the first
/// I/O error, after which every write fails at once (a closed pipe ends the output).
pub struct FmtIo<W: io::Write> {
    inner: W,
    error: Option<io::Error>,
}

impl<W: io::Write> FmtIo<W> {
    pub fn new(inner: W) -> Self {
        FmtIo { inner, error: None }
    }

    /// Flushes; the first error of any write, or of the flush.
    pub fn finish(mut self) -> io::Result<()> {
        match self.error.take() {
            Some(err) => Err(err),
            None => self.inner.flush(),
        }
    }
}

impl<W: io::Write> fmt::Write for FmtIo<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.error.is_some() {
            return Err(fmt::Error);
        }
        self.inner.write_all(s.as_bytes()).map_err(|err| {
            self.error = Some(err);
            fmt::Error
        })
    }
}

/// ANSI styling that is a no-op when colour is off (not a TTY, or NO_COLOR).
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    pub fn green(self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn red(self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn yellow(self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn cyan(self, t: &str) -> String {
        self.paint("36", t)
    }
    pub fn bold(self, t: &str) -> String {
        self.paint("1", t)
    }
    pub fn dim(self, t: &str) -> String {
        self.paint("2", t)
    }

    /// [`Style::bold`] written where it is formatted, without a `String` of its own.
    pub fn bold_fmt<T: fmt::Display>(self, text: T) -> Painted<T> {
        self.painted("1", text)
    }

    /// [`Style::dim`] written where it is formatted.
    pub fn dim_fmt<T: fmt::Display>(self, text: T) -> Painted<T> {
        self.painted("2", text)
    }

    fn painted<T: fmt::Display>(self, code: &'static str, text: T) -> Painted<T> {
        Painted {
            code,
            text,
            color: self.color,
        }
    }
}

/// Text styled as [`Style`] paints it; see [`Style::bold_fmt`].
pub struct Painted<T> {
    code: &'static str,
    text: T,
    color: bool,
}

impl<T: fmt::Display> fmt::Display for Painted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.color {
            write!(f, "\x1b[{}m{}\x1b[0m", self.code, self.text)
        } else {
            self.text.fmt(f)
        }
    }
}
