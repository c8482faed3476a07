//! Human durations used by the config windows: `90d`, `12h`, `30m`, `45s`, `2w`.

use std::fmt;

/// A non-negative span of time, stored in whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window(u64);

impl Window {
    pub const fn from_secs(secs: u64) -> Self {
        Window(secs)
    }

    pub const fn days(days: u64) -> Self {
        Window(days * 86_400)
    }

    pub fn as_secs(self) -> u64 {
        self.0
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.0).unwrap_or(i64::MAX))
    }

    /// Parses `<number><unit>`; several parts may be chained (`1d12h`). A near miss
    /// (`90 days`, `7days`) is refused with the spelling keyrot reads.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_strict(text).map_err(|problem| match suggestion(text) {
            Some(fix) => format!(
                "`{}` is not a duration keyrot reads: write `{fix}`",
                text.trim()
            ),
            None => format!("{problem} (units: s, m, h, d, w; chained like `1d12h`)"),
        })
    }

    fn parse_strict(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration".into());
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for ch in text.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            let unit = match ch {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                'w' => 604_800,
                other => return Err(format!("unknown unit `{other}` in `{text}`")),
            };
            if digits.is_empty() {
                return Err(format!("missing number before `{ch}` in `{text}`"));
            }
            let n: u64 = digits
                .parse()
                .map_err(|_| format!("number too large in `{text}`"))?;
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .filter(|v| *v <= MAX_SECS)
                .ok_or_else(|| format!("`{text}` is longer than 100 years"))?;
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(format!("`{text}` has no unit after `{digits}`"));
        }
        Ok(Window(total))
    }
}

/// The spelling keyrot reads for a duration written in words (`90 days` → `90d`), if
/// every part is a number and a known unit word.
fn suggestion(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        let (number, after) = rest.split_at(digits);
        let after = after.trim_start();
        let letters = after.len()
            - after
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let (word, tail) = after.split_at(letters);
        let unit = match word.to_ascii_lowercase().as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 's',
            "m" | "min" | "mins" | "minute" | "minutes" => 'm',
            "h" | "hr" | "hrs" | "hour" | "hours" => 'h',
            "d" | "day" | "days" => 'd',
            "w" | "wk" | "wks" | "week" | "weeks" => 'w',
            _ => return None,
        };
        out.push_str(number);
        out.push(unit);
        rest = tail.trim_start_matches([' ', ',']).trim_start();
    }
    (out != text.trim() && Window::parse_strict(&out).is_ok()).then_some(out)
}

/// Keeps every window far from chrono's range limits.
const MAX_SECS: u64 = 100 * 365 * 86_400;

impl fmt::Display for Window {
    /// Prints the largest exact unit, so `Window::parse(w.to_string()) == w`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
            if s != 0 && s.is_multiple_of(size) {
                return write!(f, "{}{unit}", s / size);
            }
        }
        write!(f, "{s}s")
    }
}

/// A rough human age ("3d 4h", "12m") for status and plan text.
pub fn humanize(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    if secs < 0 {
        return format!("in {}", humanize(-d));
    }
    let (days, hours, mins) = (secs / 86_400, (secs % 86_400) / 3_600, (secs % 3_600) / 60);
    match (days, hours, mins) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_chains() {
        assert_eq!(Window::parse("90d").unwrap().as_secs(), 90 * 86_400);
        assert_eq!(
            Window::parse("1d12h").unwrap().as_secs(),
            86_400 + 12 * 3_600
        );
        assert_eq!(Window::parse("2w").unwrap(), Window::days(14));
        assert_eq!(Window::parse("0s").unwrap().as_secs(), 0);
    }

    #[test]
    fn rejects_bad_input_with_reason() {
        assert!(Window::parse("90").unwrap_err().contains("no unit"));
        assert!(Window::parse("9x").unwrap_err().contains("unknown unit"));
        assert!(Window::parse("d").unwrap_err().contains("missing number"));
        assert!(Window::parse("").is_err());
        assert!(Window::parse("99999999999999999999d").is_err());
        assert!(Window::parse("40000d").unwrap_err().contains("100 years"));
    }

    #[test]
    fn display_round_trips() {
        for text in ["90d", "36h", "30m", "45s", "0s"] {
            let w = Window::parse(text).unwrap();
            assert_eq!(Window::parse(&w.to_string()).unwrap(), w);
        }
        assert_eq!(Window::parse("1w").unwrap().to_string(), "7d");
    }

    #[test]
    fn humanize_is_coarse() {
        assert_eq!(humanize(chrono::Duration::minutes(5)), "5m");
        assert_eq!(humanize(chrono::Duration::hours(26)), "1d 2h");
        assert_eq!(humanize(chrono::Duration::days(3)), "3d");
    }

    #[test]
    fn near_misses_get_the_spelling_keyrot_reads() {
        let err = Window::parse("90 days").unwrap_err();
        assert!(
            err.contains("`90 days`") && err.contains("write `90d`"),
            "{err}"
        );
        let err = Window::parse("7days").unwrap_err();
        assert!(err.contains("write `7d`"), "{err}");
        let err = Window::parse("1 day 12 hours").unwrap_err();
        assert!(err.contains("write `1d12h`"), "{err}");
        let err = Window::parse("3 fortnights").unwrap_err();
        assert!(err.contains("units: s, m, h, d, w"), "{err}");
        assert_eq!(Window::parse("90d").unwrap().as_secs(), 90 * 86_400);
    }
}
