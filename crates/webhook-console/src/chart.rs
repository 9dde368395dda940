//! The overview's chart: accepted, refused and failed requests per minute over the last
//! hour, as stacked bars in SVG drawn on the server. It is made of numbers only (no text
//! from a request reaches it), so it needs no script and no external asset.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webhook_pipeline::AuditCount;

/// The bar colour of accepted requests.
pub(crate) const ACCEPTED: &str = "#2da44e";
/// The bar colour of refused requests.
pub(crate) const REFUSED: &str = "#d4a72c";
/// The bar colour of failed requests.
pub(crate) const FAILED: &str = "#cf222e";

/// The minutes charted.
const MINUTES: u64 = 60;
const WIDTH: u64 = 960;
const HEIGHT: u64 = 220;
const LEFT: u64 = 44;
const BOTTOM: u64 = 24;
const TOP: u64 = 10;

/// What became of a request, for the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Answered 2xx: accepted, a duplicate, a handshake.
    Accepted,
    /// Refused by verification or a limit (4xx).
    Refused,
    /// The receiver failed (5xx: the store or the sink unavailable).
    Failed,
}

impl Kind {
    pub(crate) fn of(outcome: &str) -> Self {
        match outcome {
            "accepted" | "duplicate" | "handshake" => Self::Accepted,
            "unavailable" | "store_error" => Self::Failed,
            _ => Self::Refused,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

fn minute(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 60)
}

/// The counts per minute of the hour up to `now` (the current minute last).
pub(crate) fn per_minute(counts: &[AuditCount], now: SystemTime) -> Vec<[u64; 3]> {
    let last = minute(now);
    let first = last.saturating_sub(MINUTES - 1);
    let mut bars = vec![[0u64; 3]; MINUTES as usize];
    for c in counts {
        let m = minute(c.bucket);
        if (first..=last).contains(&m) {
            bars[(m - first) as usize][Kind::of(&c.outcome) as usize] += c.count;
        }
    }
    bars
}

/// A round axis maximum at or above `max`.
fn axis_max(max: u64) -> u64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step >= max {
                return m * step;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// The chart as an `<svg>` element.
pub(crate) fn svg(counts: &[AuditCount], now: SystemTime) -> String {
    let bars = per_minute(counts, now);
    let max = axis_max(bars.iter().map(|b| b.iter().sum::<u64>()).max().unwrap_or(0).max(1));
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = (WIDTH - LEFT) / MINUTES;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg id="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="requests per minute, last hour" font-family="system-ui,sans-serif" font-size="11" fill="#57606a">"##
    );
    for i in 0..=4 {
        let y = TOP + plot_h - plot_h * i / 4;
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{WIDTH}" y1="{y}" y2="{y}" stroke="#d0d7de" stroke-width="1"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            LEFT - 6,
            y + 4,
            max * i / 4
        );
    }
    for (i, bar) in bars.iter().enumerate() {
        let x = LEFT + i as u64 * slot + 1;
        let mut y = TOP + plot_h;
        for (kind, colour) in [(Kind::Accepted, ACCEPTED), (Kind::Refused, REFUSED), (Kind::Failed, FAILED)] {
            let n = bar[kind as usize];
            if n == 0 {
                continue;
            }
            let h = (plot_h * n).div_ceil(max).max(1);
            y -= h;
            let _ = write!(
                s,
                r#"<rect class="{}" x="{x}" y="{y}" width="{}" height="{h}" fill="{colour}"><title>{n} {}</title></rect>"#,
                kind.name(),
                slot - 2,
                kind.name()
            );
        }
    }
    let first = now - Duration::from_secs(60 * (MINUTES - 1));
    for i in (0..MINUTES).step_by(10).chain([MINUTES - 1]) {
        let t = first + Duration::from_secs(60 * i);
        let label = &crate::pages::time(t)[11..16];
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{label}</text>"#,
            LEFT + i * slot + slot / 2,
            HEIGHT - 6
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(secs: u64, outcome: &str, n: u64) -> AuditCount {
        AuditCount {
            bucket: UNIX_EPOCH + Duration::from_secs(secs),
            provider: "github".into(),
            outcome: outcome.into(),
            count: n,
        }
    }

    #[test]
    fn counts_land_in_their_minute_and_kind() {
        let now = UNIX_EPOCH + Duration::from_secs(3600 * 10 + 30);
        let counts = [
            count(3600 * 10, "accepted", 3),
            count(3600 * 10, "duplicate", 1),
            count(3600 * 10, "invalid_signature", 2),
            count(3600 * 10 - 60, "store_error", 4),
            count(3600 * 9, "accepted", 100), // 60 minutes before: out of the chart
        ];
        let bars = per_minute(&counts, now);
        assert_eq!(bars.len(), 60);
        assert_eq!(bars[59], [4, 2, 0]);
        assert_eq!(bars[58], [0, 0, 4]);
        assert_eq!(bars.iter().map(|b| b.iter().sum::<u64>()).sum::<u64>(), 10);
    }

    #[test]
    fn the_svg_has_a_bar_per_kind_and_minute_with_counts() {
        let now = UNIX_EPOCH + Duration::from_secs(3600 * 10 + 30);
        let svg = svg(&[count(3600 * 10, "accepted", 3), count(3600 * 10, "malformed", 1)], now);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("<title>3 accepted</title>") && svg.contains("<title>1 refused</title>"));
        assert!(svg.contains(">10:00<"), "the last minute's label");
    }

    #[test]
    fn the_axis_rounds_up() {
        assert_eq!([1, 2, 3, 7, 11, 99, 100, 101].map(axis_max), [1, 2, 5, 10, 20, 100, 100, 200]);
    }
}
