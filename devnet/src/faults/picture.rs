//! `timeline.png`: what each fault did. Top: every validator's height over the run's seconds,
//! with each fault's window shaded and named. Bottom: submit → commit latency of the
//! acknowledged txs, p50 and p99 per second of commit, on the same time axis (a second without
//! a commit breaks the line).
//!
//! Promises: text only when a font is found (as `bench.png`), so the picture never depends on
//! fontconfig; a validator that did not answer leaves a gap in its line, never a drop to zero.

use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

use super::load::{Entry, Outcome, Sample};

/// A shaded window: label, from and to (seconds since the start).
#[derive(Clone, Debug)]
pub struct Window {
    /// What was done.
    pub label: String,
    /// Seconds since the start.
    pub from: f64,
    /// Seconds since the start.
    pub to: f64,
}

const COLORS: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
];

/// A latency line: its name, colour, and which value of a second it draws.
type Quantile = (&'static str, RGBColor, fn(&(f64, f64, f64)) -> f64);

/// Latency p50 and p99 (ms) per second of commit, from the acknowledged txs.
#[must_use]
pub fn latency_per_second(history: &[Entry]) -> Vec<(f64, f64, f64)> {
    let mut by_second: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for e in history {
        if matches!(e.outcome, Outcome::Committed { .. }) {
            by_second.entry(e.done_ms / 1_000).or_default().push(e.done_ms - e.sent_ms);
        }
    }
    by_second
        .into_iter()
        .map(|(s, mut v)| {
            v.sort_unstable();
            let at = |q: usize| v[(v.len() - 1) * q / 100] as f64;
            (s as f64 + 0.5, at(50), at(99))
        })
        .collect()
}

/// Draws the picture into `path`.
///
/// # Errors
/// It cannot be drawn or written.
pub fn draw(
    path: &Path,
    samples: &[Sample],
    windows: &[Window],
    history: &[Entry],
    validators: usize,
) -> Result<(), String> {
    let labels = crate::bench::plot::font_available();
    let root = BitMapBackend::new(path, (1400, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(460);
    let end = samples.iter().map(|s| s.at_ms).max().unwrap_or(1_000) as f64 / 1_000.0;
    let top_h = samples.iter().filter_map(|s| s.height).max().unwrap_or(1) as f64 * 1.05 + 1.0;
    let mut chart = chart_on(&top, "height per validator (shaded: faults)", end, top_h, labels)?;
    shade(&mut chart, windows, top_h, labels)?;
    for v in 0..validators {
        let color = COLORS[v % COLORS.len()];
        let mine: Vec<&Sample> = samples.iter().filter(|s| s.validator == v).collect();
        for run in mine.split(|s| s.height.is_none()) {
            let points = run.iter().filter_map(|s| Some((s.at_ms as f64 / 1e3, s.height? as f64)));
            let drawn = chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            if labels && run.first().is_some_and(|s| s.at_ms == mine[0].at_ms) {
                drawn
                    .label(format!("v{v}"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
        }
    }
    legend(&mut chart, labels)?;
    let latency = latency_per_second(history);
    let max_ms = latency.iter().map(|l| l.2).fold(1.0, f64::max) * 1.1;
    let mut chart = chart_on(&bottom, "submit -> commit latency (ms)", end, max_ms, labels)?;
    shade(&mut chart, windows, max_ms, false)?;
    let quantiles: [Quantile; 2] = [("p50", BLUE, |l| l.1), ("p99", RED, |l| l.2)];
    for (name, color, pick) in quantiles {
        let points: Vec<(f64, f64)> = latency.iter().map(|l| (l.0, pick(l))).collect();
        // A second without a commit breaks the line.
        for (k, run) in crate::bench::plot::segments(&points).into_iter().enumerate() {
            let drawn = chart
                .draw_series(LineSeries::new(run.iter().copied(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            if labels && k == 0 {
                drawn
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
        }
    }
    legend(&mut chart, labels)?;
    root.present().map_err(|e| format!("{}: {e}", path.display()))
}

type Chart<'a> = ChartContext<
    'a,
    BitMapBackend<'a>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn chart_on<'a>(
    area: &DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>,
    title: &str,
    x_max: f64,
    y_max: f64,
    labels: bool,
) -> Result<Chart<'a>, String> {
    let mut builder = ChartBuilder::on(area);
    builder.margin(12).x_label_area_size(if labels { 32 } else { 4 });
    builder.y_label_area_size(if labels { 60 } else { 4 });
    if labels {
        builder.caption(title, ("sans-serif", 18));
    }
    let mut chart =
        builder.build_cartesian_2d(0.0..x_max.max(1.0), 0.0..y_max).map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if labels {
        mesh.x_desc("seconds").y_label_formatter(&|v| format!("{v:.0}"));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    Ok(chart)
}

fn shade(
    chart: &mut Chart<'_>,
    windows: &[Window],
    y_max: f64,
    labels: bool,
) -> Result<(), String> {
    let fill = RGBColor(255, 200, 120).mix(0.35).filled();
    let boxes = windows.iter().map(|w| Rectangle::new([(w.from, 0.0), (w.to, y_max)], fill));
    chart.draw_series(boxes).map_err(|e| e.to_string())?;
    if labels {
        let names = windows.iter().enumerate().map(|(i, w)| {
            let y = y_max * (0.97 - 0.05 * (i % 4) as f64);
            Text::new(w.label.clone(), (w.from, y), ("sans-serif", 13).into_font())
        });
        chart.draw_series(names).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn legend(chart: &mut Chart<'_>, labels: bool) -> Result<(), String> {
    if !labels {
        return Ok(());
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())
}
