//! Renderers over the one plan model: the text and JSON outputs cannot disagree.

pub mod json;
pub mod log;
pub mod markdown;
pub mod status;
pub mod text;

pub use crate::core::model::timestamp;
use std::fmt;

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
