//! Durations as people write them: `"90m"`, `"24h"`, `"2d"`, `"1w"`.

use std::fmt;
use std::str::FromStr;

use chrono::TimeDelta;

/// A positive whole number of seconds, minutes, hours, days or weeks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    seconds: i64,
}

/// The longest span accepted: beyond ten years a value is a typo.
const MAX_SECONDS: i64 = 10 * 366 * 86_400;

impl Span {
    /// A span of `seconds` (must be positive).
    pub fn from_secs(seconds: i64) -> Option<Self> {
        (seconds > 0 && seconds <= MAX_SECONDS).then_some(Self { seconds })
    }

    /// Length in seconds.
    pub fn as_secs(self) -> i64 {
        self.seconds
    }

    /// As a chrono delta.
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::seconds(self.seconds)
    }

    /// As a std duration.
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds.unsigned_abs())
    }
}

impl FromStr for Span {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not a duration; write a whole number and a unit: 30s, 90m, 24h, 2d or 1w"
            )
        };
        let unit_at = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (number, unit) = text.split_at(unit_at);
        let number: i64 = number.parse().map_err(|_| bad())?;
        let unit_seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return Err(bad()),
        };
        if number == 0 {
            return Err(format!("{text:?} is zero; a duration must be positive"));
        }
        number
            .checked_mul(unit_seconds)
            .and_then(Self::from_secs)
            .ok_or_else(|| format!("{text:?} is longer than ten years"))
    }
}

impl fmt::Display for Span {
    /// The largest unit that divides the span exactly, so `"24h"` reads back as `"1d"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] {
            if s % size == 0 {
                return write!(f, "{}{unit}", s / size);
            }
        }
        write!(f, "{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        for (text, seconds) in [
            ("30s", 30),
            ("90m", 5_400),
            ("24h", 86_400),
            ("2d", 172_800),
            ("1w", 604_800),
        ] {
            assert_eq!(text.parse::<Span>().unwrap().as_secs(), seconds, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for text in [
            "",
            "h",
            "24",
            "1.5h",
            "-1h",
            "0h",
            "24 h",
            "1y",
            "24H",
            "99999999999w",
        ] {
            assert!(text.parse::<Span>().is_err(), "{text}");
        }
    }

    #[test]
    fn prints_the_largest_exact_unit() {
        assert_eq!("24h".parse::<Span>().unwrap().to_string(), "1d");
        assert_eq!("90m".parse::<Span>().unwrap().to_string(), "90m");
        assert_eq!("61s".parse::<Span>().unwrap().to_string(), "61s");
    }
}
