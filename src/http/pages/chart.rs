//! History charts as inline SVG: one bar per period, a value axis, period labels, the target as
//! a dashed line and a legend (in the page, beside the chart).

use crate::domain::message::escape;
use crate::domain::present;

/// One bar.
pub struct Bar {
    /// Under the bar: `W46`, `Nov`, `Q4`, `9 Nov`.
    pub label: String,
    /// The value, if the period had data.
    pub value: Option<f64>,
    /// `met`, `breached`, `at_risk`, …: the bar's colour.
    pub status: String,
    /// The tooltip: the period and the value in words.
    pub title: String,
}

/// Colours that keep a contrast of at least 4.5:1 on white.
fn colour(status: &str) -> &'static str {
    match status {
        "met" | "on_track" => "#116329",
        "at_risk" => "#7d4e00",
        "breached" => "#a40e26",
        _ => "#57606a",
    }
}

/// A round step for the axis so that about four ticks span `top`.
fn step(top: f64) -> f64 {
    let rough = (top / 4.0).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude)
}

/// The chart; `unit` follows axis numbers (`%` or empty). `label` names it for screen readers.
pub fn svg(bars: &[Bar], target: f64, unit: &str, label: &str) -> String {
    let (width, height) = (640.0, 220.0);
    let (left, right, top_pad, bottom) = (48.0, 12.0, 12.0, 36.0);
    let highest = bars
        .iter()
        .filter_map(|b| b.value)
        .fold(target, f64::max)
        .max(1.0);
    let step = step(highest * 1.1);
    let top = (highest * 1.1 / step).ceil() * step;
    let plot_h = height - top_pad - bottom;
    let y = |v: f64| top_pad + plot_h - (v / top) * plot_h;
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(label)
    );
    // Axis with ticks and grid lines.
    let mut tick = 0.0;
    while tick <= top + step / 2.0 {
        let ty = y(tick);
        out.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"#d0d7de\" stroke-width=\"1\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#57606a\">{}{}</text>",
            width - right,
            left - 6.0,
            ty + 4.0,
            present::number(tick),
            if unit.is_empty() { String::new() } else { format!(" {unit}") },
        ));
        tick += step;
    }
    out.push_str(&format!(
        "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top_pad}\" y2=\"{:.1}\" stroke=\"#57606a\" stroke-width=\"1\"/>",
        top_pad + plot_h
    ));
    let n = bars.len().max(1) as f64;
    let slot = (width - left - right) / n;
    let every = (bars.len() / 8).max(1);
    for (i, bar) in bars.iter().enumerate() {
        let x = left + i as f64 * slot + slot * 0.15;
        let w = slot * 0.7;
        match bar.value {
            Some(value) => {
                let h = (top_pad + plot_h - y(value)).max(1.0);
                out.push_str(&format!(
                    "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"2\" fill=\"{}\"><title>{}</title></rect>",
                    y(value),
                    colour(&bar.status),
                    escape(&bar.title)
                ));
            }
            None => out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#57606a\">–<title>{}</title></text>",
                x + w / 2.0,
                top_pad + plot_h - 4.0,
                escape(&bar.title)
            )),
        }
        if i % every == 0 || i + 1 == bars.len() {
            out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#1f2328\">{}</text>",
                x + w / 2.0,
                height - bottom + 18.0,
                escape(&bar.label)
            ));
        }
    }
    let ty = y(target);
    out.push_str(&format!(
        "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"#1f2328\" stroke-dasharray=\"6 4\" stroke-width=\"2\"><title>target {}{}</title></line></svg>",
        width - right,
        present::number(target),
        if unit.is_empty() { String::new() } else { format!(" {unit}") }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_steps_are_round() {
        assert_eq!(step(110.0), 50.0);
        assert_eq!(step(22.0), 10.0);
        assert_eq!(step(9.0), 2.5);
    }

    #[test]
    fn a_chart_has_its_target_and_labels() {
        let bars = vec![Bar {
            label: "W46".into(),
            value: Some(80.0),
            status: "breached".into(),
            title: "week <46>".into(),
        }];
        let svg = svg(&bars, 90.0, "%", "history");
        assert!(svg.contains("W46") && svg.contains("target 90") && svg.contains("100 %"));
        assert!(svg.contains("week &lt;46&gt;") || svg.contains("week &#60;46&#62;"));
    }
}
