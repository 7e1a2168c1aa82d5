//! `bench.png`: two panels over the seconds of a run — latency p50 and p99 (ms) on top,
//! submitted and finalized txs per second below.
//!
//! Promises: text is drawn only when a TrueType font is found at one of a few system paths (it
//! is registered for `plotters` once per process); without one the chart keeps its axes, grid
//! and lines but no labels, so the picture never depends on fontconfig.

use plotters::prelude::*;
use std::path::Path;

use super::record::Row;

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Whether a font is registered (looked for once).
#[must_use]
pub fn font_available() -> bool {
    static FOUND: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| {
        FONT_PATHS.iter().any(|path| {
            let Ok(bytes) = std::fs::read(path) else { return false };
            // The registry keeps `'static` bytes; one font, once per process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    })
}

/// One line of a panel.
struct Line<'a> {
    name: &'a str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// Runs of points one second apart: a second without a value breaks the line rather than
/// drawing across it.
pub(crate) fn segments(points: &[(f64, f64)]) -> Vec<&[(f64, f64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=points.len() {
        if i == points.len() || points[i].0 - points[i - 1].0 > 1.5 {
            out.push(&points[start..i]);
            start = i;
        }
    }
    out
}

/// Draws the two panels into `path`; `labels` says whether to draw text.
///
/// # Errors
/// The picture cannot be drawn or written.
pub fn draw(path: &Path, rows: &[Row], labels: bool) -> Result<(), String> {
    let root = BitMapBackend::new(path, (1000, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(360);
    let at = |r: &Row| r.t as f64 + 0.5;
    let series = |f: fn(&Row) -> Option<f64>| -> Vec<(f64, f64)> {
        rows.iter().filter_map(|r| f(r).map(|v| (at(r), v))).collect()
    };
    let latency = [
        Line { name: "p50 ms", color: BLUE, points: series(|r| r.p50_ms) },
        Line { name: "p99 ms", color: RED, points: series(|r| r.p99_ms) },
    ];
    panel(&top, "submit -> final latency (ms)", &latency, labels)?;
    let throughput = [
        Line { name: "submitted/s", color: BLACK, points: series(|r| Some(r.submitted as f64)) },
        Line { name: "finalized/s", color: GREEN, points: series(|r| Some(r.finalized as f64)) },
    ];
    panel(&bottom, "txs per second", &throughput, labels)?;
    root.present().map_err(|e| format!("{}: {e}", path.display()))
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    lines: &[Line<'_>],
    labels: bool,
) -> Result<(), String> {
    let points = lines.iter().flat_map(|l| l.points.iter());
    let x_max = points.clone().map(|p| p.0).fold(1.0, f64::max).ceil();
    let y_max = points.map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let mut builder = ChartBuilder::on(area);
    builder.margin(12).x_label_area_size(if labels { 32 } else { 4 });
    builder.y_label_area_size(if labels { 60 } else { 4 });
    if labels {
        builder.caption(title, ("sans-serif", 18));
    }
    let mut chart =
        builder.build_cartesian_2d(0.0..x_max, 0.0..y_max).map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if labels {
        mesh.x_desc("seconds").y_label_formatter(&|v| format!("{v:.0}"));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    for line in lines {
        let style = line.color.stroke_width(2);
        for segment in segments(&line.points) {
            chart
                .draw_series(LineSeries::new(segment.iter().copied(), style))
                .map_err(|e| e.to_string())?;
        }
        let dots = line.points.iter().map(|p| Circle::new(*p, 2, line.color.filled()));
        let drawn = chart.draw_series(dots).map_err(|e| e.to_string())?;
        if labels {
            let color = line.color;
            drawn
                .label(line.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
    }
    if labels {
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_second_breaks_the_line() {
        let points = [(0.5, 1.0), (1.5, 2.0), (3.5, 1.0), (4.5, 1.0), (7.5, 3.0)];
        let runs: Vec<usize> = segments(&points).iter().map(|s| s.len()).collect();
        assert_eq!(runs, vec![2, 2, 1]);
        assert!(segments(&[]).is_empty());
    }

    #[test]
    fn draws_a_png_without_labels() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { return };
        let rows: Vec<Row> = (0..5)
            .map(|t| Row {
                t,
                submitted: 100,
                admitted: 100,
                refused: 0,
                finalized: 90 + t as u64,
                p50_ms: Some(40.0),
                p90_ms: Some(60.0),
                p99_ms: (t > 0).then_some(80.0),
            })
            .collect();
        let path = dir.path().join("bench.png");
        assert_eq!(draw(&path, &rows, false), Ok(()));
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    }
}
