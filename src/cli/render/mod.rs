//! Renderers over the one plan model: the text and JSON outputs cannot disagree.

pub mod json;
pub mod log;
pub mod markdown;
pub mod status;
pub mod text;

pub use crate::core::model::timestamp;

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
}
