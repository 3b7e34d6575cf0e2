//! Time windows and the service's clock.
//!
//! Budget days and months are calendar days and months at a fixed UTC offset (UTC unless
//! the configuration says `budget_utc_offset_minutes`); their counters are keyed by the
//! window's date, so a new day starts a new counter at midnight whatever Redis's TTLs say.
//! Minute windows are Limitador's own: a window starts at the first request after the
//! previous one ended and lasts 60 seconds (its Redis key's TTL).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the Unix epoch, shifted by a fixed offset so that tests can
/// start the service's clock just before a day boundary (`--clock-start`).
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn system() -> Self {
        Clock::default()
    }

    /// A clock that reads `start_ms` now and then advances in real time.
    pub fn starting_at(start_ms: i64) -> Self {
        let c = Clock::default();
        c.offset_ms.store(start_ms - system_ms(), Ordering::Relaxed);
        c
    }

    pub fn now_ms(&self) -> i64 {
        system_ms() + self.offset_ms.load(Ordering::Relaxed)
    }
}

fn system_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A calendar window of a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Calendar {
    Day,
    Month,
}

impl Calendar {
    /// How long Redis keeps a window's counter after its first charge: past the window's
    /// end, so a counter never expires while its window runs.
    pub fn ttl_seconds(self) -> u64 {
        match self {
            Calendar::Day => 2 * 86_400,
            Calendar::Month => 32 * 86_400,
        }
    }
}

/// One calendar window: its name (`2026-12-01`, `2026-12`) and its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub id: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Span {
    /// Whole seconds until the window ends, at least 1 (for `retry-after`).
    pub fn resets_in_seconds(&self, now_ms: i64) -> u64 {
        let ms = self.end_ms.saturating_sub(now_ms).max(0);
        u64::try_from(ms.saturating_add(999) / 1000).unwrap_or(0).max(1)
    }
}

const MS_PER_DAY: i64 = 86_400_000;

/// The window of `kind` that `now_ms` falls in, with days starting at midnight of UTC plus
/// `offset_minutes`.
pub fn span(kind: Calendar, now_ms: i64, offset_minutes: i32) -> Span {
    let offset_ms = i64::from(offset_minutes) * 60_000;
    let local = now_ms + offset_ms;
    let day = local.div_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(day);
    match kind {
        Calendar::Day => Span {
            id: format!("{y:04}-{m:02}-{d:02}"),
            start_ms: day * MS_PER_DAY - offset_ms,
            end_ms: (day + 1) * MS_PER_DAY - offset_ms,
        },
        Calendar::Month => {
            let first = days_from_civil(y, m, 1);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let next = days_from_civil(ny, nm, 1);
            Span {
                id: format!("{y:04}-{m:02}"),
                start_ms: first * MS_PER_DAY - offset_ms,
                end_ms: next * MS_PER_DAY - offset_ms,
            }
        }
    }
}

/// `2026-12-01T19:40:22Z` for a UTC instant.
pub fn rfc3339(now_ms: i64) -> String {
    let day = now_ms.div_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(day);
    let secs = now_ms.div_euclid(1000) - day * 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only): the `--clock-start` format.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (time, frac) = match time.split_once('.') {
        Some((t, f)) => (t, f),
        None => (time, ""),
    };
    let mut t = time.splitn(3, ':').map(str::parse::<i64>);
    let (hh, mm, ss) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let ok = (1..=12).contains(&m) && (1..=31).contains(&day) && hh < 24 && mm < 60 && ss < 61;
    if !ok || hh < 0 || mm < 0 || ss < 0 {
        return None;
    }
    let ms: i64 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(3).collect();
        let n: i64 = digits.parse().ok()?;
        n * 10_i64.pow(3 - u32::try_from(digits.len()).ok()?)
    };
    let m = u32::try_from(m).ok()?;
    let day = u32::try_from(day).ok()?;
    Some(days_from_civil(y, m, day) * MS_PER_DAY + (hh * 3600 + mm * 60 + ss) * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (the inverse of `days_from_civil`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, u32::try_from(m).unwrap_or(1), u32::try_from(d).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn parses_and_prints_utc_instants() {
        assert_eq!(at("1970-01-01T00:00:00Z"), 0);
        assert_eq!(at("2026-12-01T19:40:22Z") % 1000, 0);
        assert_eq!(rfc3339(at("2026-12-01T19:40:22Z")), "2026-12-01T19:40:22Z");
        assert_eq!(at("2026-12-01T19:40:22.5Z") - at("2026-12-01T19:40:22Z"), 500);
        assert_eq!(rfc3339(at("2024-02-29T23:59:59Z")), "2024-02-29T23:59:59Z");
        for bad in [
            "2026-13-01T00:00:00Z",
            "2026-12-01 00:00:00Z",
            "2026-12-01T00:00:00",
            "x",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_budget_day_is_a_utc_calendar_day() {
        let before = span(Calendar::Day, at("2026-12-01T23:59:59.999Z"), 0);
        let after = span(Calendar::Day, at("2026-12-02T00:00:00Z"), 0);
        assert_eq!(before.id, "2026-12-01");
        assert_eq!(after.id, "2026-12-02");
        assert_eq!(before.end_ms, after.start_ms);
        assert_eq!(before.resets_in_seconds(at("2026-12-01T23:59:59.999Z")), 1);
        assert_eq!(
            span(Calendar::Day, at("2026-12-01T19:40:22Z"), 0).resets_in_seconds(at("2026-12-01T19:40:22Z")),
            15578
        );
    }

    #[test]
    fn months_end_on_their_last_day() {
        let dec = span(Calendar::Month, at("2026-12-31T23:59:59Z"), 0);
        assert_eq!(dec.id, "2026-12");
        assert_eq!(dec.end_ms, at("2027-01-01T00:00:00Z"));
        assert_eq!(span(Calendar::Month, at("2027-01-01T00:00:00Z"), 0).id, "2027-01");
        let feb = span(Calendar::Month, at("2028-02-15T12:00:00Z"), 0);
        assert_eq!(
            (feb.start_ms, feb.end_ms),
            (at("2028-02-01T00:00:00Z"), at("2028-03-01T00:00:00Z"))
        );
        assert_eq!(
            span(Calendar::Month, at("2026-12-01T19:40:22Z"), 0).resets_in_seconds(at("2026-12-01T19:40:22Z")),
            // 30 days and 4 h 19 min 38 s to 2027-01-01 (the usage shape's example, 2606378,
            // is an illustration, not this instant's figure).
            30 * 86_400 + 15_578
        );
    }

    #[test]
    fn an_offset_moves_midnight() {
        // UTC-05:00: the day of 2026-12-02 04:59 UTC is still December 1st there.
        let s = span(Calendar::Day, at("2026-12-02T04:59:59Z"), -300);
        assert_eq!(s.id, "2026-12-01");
        assert_eq!(s.end_ms, at("2026-12-02T05:00:00Z"));
        assert_eq!(span(Calendar::Day, at("2026-12-02T05:00:00Z"), -300).id, "2026-12-02");
        // UTC+14:00
        assert_eq!(span(Calendar::Day, at("2026-12-01T10:00:00Z"), 840).id, "2026-12-02");
    }

    #[test]
    fn clock_starts_where_told() {
        let c = Clock::starting_at(at("2026-12-01T23:59:58Z"));
        let now = c.now_ms();
        assert!((now - at("2026-12-01T23:59:58Z")).abs() < 1000);
    }
}
