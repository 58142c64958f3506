//! SVG pictures: trajectories drawn over a surface's contour lines, and loss
//! curves on a logarithmic axis.
//!
//! Drawn with `plotters`' SVG backend alone: text is written as SVG `<text>`
//! elements for the viewer to render, so no font library is needed to make
//! the files.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::surface::{Bounds, Grid, Surface};

pub use plotters::style::RGBColor;

/// Colours that tell series apart (Tableau 10).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The width and height of one panel, in pixels.
pub const PANEL_SIZE: (u32, u32) = (520, 460);

/// A picture could not be written.
#[derive(Debug, thiserror::Error)]
#[error("could not draw {path}: {message}")]
pub struct PlotError {
    /// The file being written.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// Where a panel's legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legend {
    /// A box in the top left corner.
    UpperLeft,
    /// A box in the top right corner.
    UpperRight,
    /// A box in the bottom left corner.
    LowerLeft,
    /// A box in the bottom right corner.
    LowerRight,
    /// No box: each path's label is written beside its starting point (for
    /// surface panels with many paths; curve panels then show no legend).
    AtStarts,
}

impl Legend {
    fn position(self) -> Option<SeriesLabelPosition> {
        match self {
            Legend::UpperLeft => Some(SeriesLabelPosition::UpperLeft),
            Legend::UpperRight => Some(SeriesLabelPosition::UpperRight),
            Legend::LowerLeft => Some(SeriesLabelPosition::LowerLeft),
            Legend::LowerRight => Some(SeriesLabelPosition::LowerRight),
            Legend::AtStarts => None,
        }
    }
}

/// A path drawn over a surface: a trajectory's points, a label and a colour.
#[derive(Debug, Clone)]
pub struct PathSeries<'a> {
    /// The legend entry; empty for none.
    pub label: String,
    /// The points visited, in order.
    pub points: &'a [[f32; 2]],
    /// The line's colour.
    pub color: RGBColor,
}

/// A curve of a [`CurvePanel`].
#[derive(Debug, Clone)]
pub struct CurveSeries {
    /// The legend entry; empty for none.
    pub label: String,
    /// `(x, y)` pairs in order of x; y must be positive to show on the log
    /// axis (smaller values are drawn at the axis' floor).
    pub points: Vec<(f64, f64)>,
    /// The line's colour.
    pub color: RGBColor,
    /// Dashed instead of solid, to pair two variants of one method.
    pub dashed: bool,
}

/// Trajectories over the contour lines of a surface.
pub struct SurfacePanel<'a> {
    /// The caption.
    pub title: String,
    /// The surface drawn; its minima are marked with crosses.
    pub surface: &'a dyn Surface,
    /// The trajectories; each starts at a dot and ends at a ring.
    pub paths: Vec<PathSeries<'a>>,
    /// Where the legend goes.
    pub legend: Legend,
}

/// Curves on a logarithmic y axis.
pub struct CurvePanel {
    /// The caption.
    pub title: String,
    /// The x axis' label.
    pub x_label: String,
    /// The y axis' label.
    pub y_label: String,
    /// The curves.
    pub curves: Vec<CurveSeries>,
    /// Where the legend goes.
    pub legend: Legend,
    /// A logarithmic x axis (points with x ≤ 0 are left out).
    pub x_log: bool,
}

/// One panel of a figure.
pub enum Panel<'a> {
    /// Trajectories over a surface.
    Surface(SurfacePanel<'a>),
    /// Loss curves.
    Curves(CurvePanel),
}

/// Writes `panels` side by side into one SVG file at `path`.
///
/// # Errors
/// If the file cannot be written.
pub fn draw_figure(path: &Path, panels: &[Panel<'_>]) -> Result<(), PlotError> {
    let failed = |message: String| PlotError {
        path: path.to_owned(),
        message,
    };
    let width = PANEL_SIZE.0 * panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (width, PANEL_SIZE.1)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        let drawn = match panel {
            Panel::Surface(panel) => draw_surface(area, panel),
            Panel::Curves(panel) => draw_curves(area, panel),
        };
        drawn.map_err(|e| failed(e.to_string()))?;
    }
    root.present().map_err(|e| failed(e.to_string()))?;
    Ok(())
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_surface(area: &DrawingArea<SVGBackend<'_>, Shift>, panel: &SurfacePanel<'_>) -> DrawResult {
    let bounds = panel.surface.bounds();
    let (x0, x1) = (f64::from(bounds.x.0), f64::from(bounds.x.1));
    let (y0, y1) = (f64::from(bounds.y.0), f64::from(bounds.y.1));
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(34)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(5)
        .y_labels(5)
        .label_style(("sans-serif", 12))
        .draw()?;

    let to_pixels = |(x, y): (f64, f64)| {
        (
            (x - x0) / (x1 - x0) * f64::from(PANEL_SIZE.0),
            (y - y0) / (y1 - y0) * f64::from(PANEL_SIZE.1),
        )
    };
    let grid = panel.surface.grid(97, 97);
    let levels = quantile_levels(&grid, 18);
    for (k, &level) in levels.iter().enumerate() {
        let color = contour_color(k as f64 / (levels.len() - 1).max(1) as f64);
        let lines = contour_lines(&grid, level);
        chart.draw_series(lines.into_iter().map(|line| {
            let line: Vec<(f64, f64)> = line
                .into_iter()
                .map(|(x, y)| (f64::from(x), f64::from(y)))
                .collect();
            PathElement::new(simplify(&line, to_pixels), color.stroke_width(1))
        }))?;
    }
    chart.draw_series(panel.surface.minima().into_iter().map(|minimum| {
        let size = if minimum.global { 7 } else { 5 };
        Cross::new(
            (f64::from(minimum.point[0]), f64::from(minimum.point[1])),
            size,
            BLACK.stroke_width(2),
        )
    }))?;

    // Drawn last to first, so that the first path lies on top: paths often
    // share their start, and the first is usually the one to look at.
    for path in panel.paths.iter().rev() {
        let points = simplify(
            &clip_to_bounds(&thin_path(path.points, &bounds), &bounds),
            to_pixels,
        );
        let color = path.color;
        chart.draw_series(std::iter::once(PathElement::new(
            points.clone(),
            color.stroke_width(2),
        )))?;
        if let Some(&start) = points.first() {
            chart.draw_series(std::iter::once(Circle::new(start, 4, color.filled())))?;
            if panel.legend == Legend::AtStarts && !path.label.is_empty() {
                let style = ("sans-serif", 13).into_font().color(&color);
                chart.draw_series(std::iter::once(
                    EmptyElement::at(start) + Text::new(path.label.clone(), (6, -14), style),
                ))?;
            }
        }
        if let (Some(&end), Some(last)) = (points.last(), path.points.last()) {
            if bounds.contains(*last) {
                chart.draw_series(std::iter::once(Circle::new(end, 5, color.stroke_width(2))))?;
            }
        }
    }
    // The legend lists the paths in their given order.
    if panel.legend != Legend::AtStarts {
        for path in panel.paths.iter().filter(|path| !path.label.is_empty()) {
            let color = path.color;
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                .label(path.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
    }
    if let Some(position) = panel.legend.position() {
        if panel.paths.iter().any(|path| !path.label.is_empty()) {
            chart
                .configure_series_labels()
                .position(position)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(("sans-serif", 12))
                .draw()?;
        }
    }
    Ok(())
}

fn draw_curves(area: &DrawingArea<SVGBackend<'_>, Shift>, panel: &CurvePanel) -> DrawResult {
    let usable =
        |&&(x, y): &&(f64, f64)| x.is_finite() && y.is_finite() && (x > 0.0 || !panel.x_log);
    let xs = || {
        panel
            .curves
            .iter()
            .flat_map(|curve| curve.points.iter().filter(usable).map(|p| p.0))
    };
    let x_max = xs().fold(f64::MIN_POSITIVE, f64::max);
    let x_min = if panel.x_log {
        xs().fold(f64::INFINITY, f64::min).min(x_max / 10.0)
    } else {
        0.0
    };
    let positive: Vec<f64> = panel
        .curves
        .iter()
        .flat_map(|curve| curve.points.iter().filter(usable).map(|p| p.1))
        .filter(|&y| y > 0.0)
        .collect();
    let first_max = panel
        .curves
        .iter()
        .filter_map(|curve| curve.points.first().map(|p| p.1))
        .fold(f64::MIN_POSITIVE, f64::max);
    let y_top = positive
        .iter()
        .copied()
        .fold(f64::MIN_POSITIVE, f64::max)
        .min(first_max * 1e3)
        * 2.0;
    let y_floor = positive
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(y_top * 1e-14)
        .min(y_top / 10.0)
        / 2.0;
    // Start the axis just below a power of ten, where plotters begins its
    // labels (exactly at it, rounding can make plotters start a decade up).
    let y_floor = 10f64.powf(y_floor.log10().floor()) * 0.99;
    let ranges = CurveRanges {
        x: (x_min, x_max),
        y: (y_floor, y_top),
    };
    let builder = || {
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(&panel.title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52);
        builder
    };
    let y_range = (y_floor..y_top).log_scale();
    if panel.x_log {
        let chart = builder().build_cartesian_2d((x_min..x_max).log_scale(), y_range)?;
        draw_curves_on(chart, panel, &ranges)
    } else {
        let chart = builder().build_cartesian_2d(x_min..x_max, y_range)?;
        draw_curves_on(chart, panel, &ranges)
    }
}

struct CurveRanges {
    x: (f64, f64),
    y: (f64, f64),
}

fn draw_curves_on<'a, X>(
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, LogCoord<f64>>>,
    panel: &CurvePanel,
    ranges: &CurveRanges,
) -> DrawResult
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let x_format = |x: &f64| number_label(*x, ranges.x.1, panel.x_log);
    // Over few decades, label 1, 2, … 9 of each as well.
    let y_labels = if ranges.y.1 / ranges.y.0 < 500.0 {
        20
    } else {
        8
    };
    chart
        .configure_mesh()
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_labels(6)
        .y_labels(y_labels)
        .x_label_formatter(&x_format)
        .y_label_formatter(&|y| log_label(*y))
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .draw()?;

    for curve in &panel.curves {
        let points = clip_curve(&curve.points, ranges, panel.x_log);
        let color = curve.color;
        let style = color.stroke_width(2);
        let series = if curve.dashed {
            chart.draw_series(std::iter::once(DashedPathElement::new(
                points, 10, 6, style,
            )))?
        } else {
            chart.draw_series(std::iter::once(PathElement::new(points, style)))?
        };
        if !curve.label.is_empty() {
            let dashed = curve.dashed;
            series.label(curve.label.clone()).legend(move |(x, y)| {
                if dashed {
                    PathElement::new(vec![(x, y), (x + 7, y)], style)
                } else {
                    PathElement::new(vec![(x, y), (x + 18, y)], style)
                }
            });
        }
    }
    if let Some(position) = panel.legend.position() {
        if panel.curves.iter().any(|curve| !curve.label.is_empty()) {
            chart
                .configure_series_labels()
                .position(position)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(("sans-serif", 12))
                .draw()?;
        }
    }
    Ok(())
}

/// A log axis' label: "0.2", "5", "30" for values of everyday size, "1e-6"
/// otherwise.
fn log_label(value: f64) -> String {
    if (1e-3..1e4).contains(&value) {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{value:.0e}")
    }
}

/// An axis label with as many decimals as the axis' scale needs: "5000",
/// "0.5", "0.002"; powers of ten on a log axis.
fn number_label(value: f64, axis_max: f64, log: bool) -> String {
    if log {
        return log_label(value);
    }
    let decimals = (1.0 - axis_max.abs().max(f64::MIN_POSITIVE).log10().floor()).max(0.0);
    format!("{value:.*}", decimals as usize)
}

/// The colour of contour `t` (0 = lowest level, 1 = highest): a pale
/// viridis, so that trajectories stand out against it.
fn contour_color(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let mix = |a: f64, b: f64| {
        let v = a + (b - a) * f;
        (v * 0.55 + 255.0 * 0.45).round() as u8
    };
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// `count` contour levels at evenly spaced quantiles of the grid's values,
/// so that each band between two lines covers about the same area: this
/// suits surfaces whose values span many orders of magnitude as well as flat
/// ones.
pub fn quantile_levels(grid: &Grid, count: usize) -> Vec<f32> {
    let mut values: Vec<f32> = grid
        .values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    values.sort_by(f32::total_cmp);
    if values.is_empty() {
        return Vec::new();
    }
    let mut levels: Vec<f32> = (0..count)
        .map(|k| {
            let q = (k as f64 + 0.5) / count as f64;
            values[((q * values.len() as f64) as usize).min(values.len() - 1)]
        })
        .collect();
    levels.dedup();
    levels
}

/// The contour lines of `grid` at `level`, by marching squares, each joined
/// into one polyline (closed ones end where they start).
pub fn contour_lines(grid: &Grid, level: f32) -> Vec<Vec<(f32, f32)>> {
    let (columns, rows) = (grid.xs.len(), grid.ys.len());
    // Edges are keyed by their lower-left grid node and orientation:
    // 2·node for the edge going right, 2·node + 1 for the edge going up.
    let node = |c: usize, r: usize| r * columns + c;
    let mut crossing: HashMap<usize, (f32, f32)> = HashMap::new();
    let mut point_on = |key: usize| -> usize {
        let (c, r) = ((key / 2) % columns, (key / 2) / columns);
        let (c2, r2) = if key.is_multiple_of(2) {
            (c + 1, r)
        } else {
            (c, r + 1)
        };
        let (a, b) = (grid.at(c, r), grid.at(c2, r2));
        let t = ((level - a) / (b - a)).clamp(0.0, 1.0);
        let x = grid.xs[c] + (grid.xs[c2] - grid.xs[c]) * t;
        let y = grid.ys[r] + (grid.ys[r2] - grid.ys[r]) * t;
        crossing.insert(key, (x, y));
        key
    };
    let mut segments: Vec<(usize, usize)> = Vec::new();
    for r in 0..rows - 1 {
        for c in 0..columns - 1 {
            let corners = [
                grid.at(c, r),
                grid.at(c + 1, r),
                grid.at(c + 1, r + 1),
                grid.at(c, r + 1),
            ];
            if corners.iter().any(|v| !v.is_finite()) {
                continue;
            }
            let high = corners.map(|v| v > level);
            let bottom = 2 * node(c, r);
            let right = 2 * node(c + 1, r) + 1;
            let top = 2 * node(c, r + 1);
            let left = 2 * node(c, r) + 1;
            let mut cut = Vec::with_capacity(4);
            if high[0] != high[1] {
                cut.push(point_on(bottom));
            }
            if high[1] != high[2] {
                cut.push(point_on(right));
            }
            if high[3] != high[2] {
                cut.push(point_on(top));
            }
            if high[0] != high[3] {
                cut.push(point_on(left));
            }
            match cut.len() {
                2 => segments.push((cut[0], cut[1])),
                4 => {
                    // A saddle: the centre's value decides which corners join.
                    let center = corners.iter().sum::<f32>() / 4.0;
                    if (center > level) == high[0] {
                        segments.push((bottom, right));
                        segments.push((left, top));
                    } else {
                        segments.push((bottom, left));
                        segments.push((right, top));
                    }
                }
                _ => {}
            }
        }
    }

    let mut ends: HashMap<usize, Vec<usize>> = HashMap::new();
    for (index, &(a, b)) in segments.iter().enumerate() {
        ends.entry(a).or_default().push(index);
        ends.entry(b).or_default().push(index);
    }
    let mut used = vec![false; segments.len()];
    let mut lines = Vec::new();
    let next = |key: usize, used: &mut Vec<bool>| -> Option<usize> {
        let index = *ends.get(&key)?.iter().find(|&&s| !used[s])?;
        used[index] = true;
        let (a, b) = segments[index];
        Some(if a == key { b } else { a })
    };
    for start in 0..segments.len() {
        if used[start] {
            continue;
        }
        used[start] = true;
        let mut chain = VecDeque::from([segments[start].0, segments[start].1]);
        while let Some(key) = next(*chain.back().expect("non-empty"), &mut used) {
            chain.push_back(key);
        }
        while let Some(key) = next(*chain.front().expect("non-empty"), &mut used) {
            chain.push_front(key);
        }
        lines.push(chain.into_iter().map(|key| crossing[&key]).collect());
    }
    lines
}

/// Drops points closer than about a pixel to the last one kept, so that a
/// run of thousands of tiny steps makes a small file; the last point is
/// always kept.
fn thin_path(points: &[[f32; 2]], bounds: &Bounds) -> Vec<[f32; 2]> {
    let scale_x = 1.0 / (bounds.x.1 - bounds.x.0);
    let scale_y = 1.0 / (bounds.y.1 - bounds.y.0);
    let near = |a: [f32; 2], b: [f32; 2]| {
        ((a[0] - b[0]) * scale_x).abs() + ((a[1] - b[1]) * scale_y).abs() <= 1.0 / 250.0
    };
    let mut kept: Vec<[f32; 2]> = Vec::new();
    for (i, &point) in points.iter().enumerate() {
        // A point next to either of the last two kept adds nothing: that
        // also thins a run bouncing to and fro between two places.
        let redundant = kept.iter().rev().take(2).any(|&k| near(k, point));
        if !redundant || i + 1 == points.len() {
            kept.push(point);
        }
    }
    kept
}

/// The path up to where it first leaves `bounds`, ending on the edge.
fn clip_to_bounds(points: &[[f32; 2]], bounds: &Bounds) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (i, &point) in points.iter().enumerate() {
        if bounds.contains(point) {
            out.push((f64::from(point[0]), f64::from(point[1])));
            continue;
        }
        if i > 0 {
            let inside = points[i - 1];
            // Shrink the step from `inside` towards `point` until it fits.
            let mut t = 1.0f32;
            for (lo, hi, p, q) in [
                (bounds.x.0, bounds.x.1, inside[0], point[0]),
                (bounds.y.0, bounds.y.1, inside[1], point[1]),
            ] {
                if q > hi {
                    t = t.min((hi - p) / (q - p));
                } else if q < lo {
                    t = t.min((lo - p) / (q - p));
                }
            }
            let x = inside[0] + (point[0] - inside[0]) * t;
            let y = inside[1] + (point[1] - inside[1]) * t;
            out.push((f64::from(x), f64::from(y)));
        }
        break;
    }
    out
}

/// The curve reduced to what a pixel column can show (the first, lowest and
/// highest point of every 1/400 of the x axis, in order), with values below
/// the floor raised to it and cut where it first rises above the top.
fn clip_curve(points: &[(f64, f64)], ranges: &CurveRanges, x_log: bool) -> Vec<(f64, f64)> {
    let (floor, top) = ranges.y;
    let position = |x: f64| {
        if x_log {
            (x / ranges.x.0).ln() / (ranges.x.1 / ranges.x.0).ln()
        } else {
            (x - ranges.x.0) / (ranges.x.1 - ranges.x.0)
        }
    };
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut column: Vec<(f64, f64)> = Vec::new();
    let mut column_index = i64::MIN;
    let flush = |column: &mut Vec<(f64, f64)>, out: &mut Vec<(f64, f64)>| {
        if let (Some(&first), Some(&last)) = (column.first(), column.last()) {
            let low = column
                .iter()
                .copied()
                .fold(first, |a, b| if b.1 < a.1 { b } else { a });
            let high = column
                .iter()
                .copied()
                .fold(first, |a, b| if b.1 > a.1 { b } else { a });
            let mut keep = vec![first, low, high, last];
            keep.sort_by(|a, b| a.0.total_cmp(&b.0));
            keep.dedup();
            out.extend(keep);
        }
        column.clear();
    };
    for &(x, y) in points {
        if x_log && x <= 0.0 {
            continue;
        }
        if !x.is_finite() || !y.is_finite() || y > top {
            flush(&mut column, &mut out);
            if let Some(&(last_x, _)) = out.last() {
                out.push((last_x, top));
            }
            return out;
        }
        let index = (position(x) * 400.0).floor() as i64;
        if index != column_index {
            flush(&mut column, &mut out);
            column_index = index;
        }
        column.push((x, y.max(floor)));
    }
    flush(&mut column, &mut out);
    let height = (top / floor).ln();
    simplify(&out, |(x, y)| {
        (
            position(x) * f64::from(PANEL_SIZE.0),
            (y / floor).ln() / height * f64::from(PANEL_SIZE.1),
        )
    })
}

/// The polyline with the points that bend it by less than half a pixel
/// left out (Ramer–Douglas–Peucker), `to_pixels` giving each point's
/// approximate position on the picture.
fn simplify(
    points: &[(f64, f64)],
    to_pixels: impl Fn((f64, f64)) -> (f64, f64),
) -> Vec<(f64, f64)> {
    const TOLERANCE: f64 = 0.5;
    if points.len() < 3 {
        return points.to_vec();
    }
    let pixels: Vec<(f64, f64)> = points.iter().map(|&p| to_pixels(p)).collect();
    let mut keep = vec![false; points.len()];
    keep[0] = true;
    keep[points.len() - 1] = true;
    let mut stack = vec![(0, points.len() - 1)];
    while let Some((first, last)) = stack.pop() {
        let (a, b) = (pixels[first], pixels[last]);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let length = dx.hypot(dy);
        let mut farthest = (0.0, first);
        for (i, p) in pixels.iter().enumerate().take(last).skip(first + 1) {
            let offset = if length > 0.0 {
                ((p.0 - a.0) * dy - (p.1 - a.1) * dx).abs() / length
            } else {
                (p.0 - a.0).hypot(p.1 - a.1)
            };
            if offset > farthest.0 {
                farthest = (offset, i);
            }
        }
        if farthest.0 > TOLERANCE {
            keep[farthest.1] = true;
            stack.push((first, farthest.1));
            stack.push((farthest.1, last));
        }
    }
    points
        .iter()
        .zip(keep)
        .filter_map(|(&p, kept)| kept.then_some(p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cone() -> Grid {
        let xs: Vec<f32> = (0..11).map(|i| -1.0 + 0.2 * i as f32).collect();
        let ys = xs.clone();
        let values = ys
            .iter()
            .flat_map(|&y| xs.iter().map(move |&x| x.hypot(y)))
            .collect();
        Grid { xs, ys, values }
    }

    #[test]
    fn a_circular_contour_is_one_closed_polyline_on_the_circle() {
        let lines = contour_lines(&cone(), 0.5);
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line.first(), line.last());
        for &(x, y) in line {
            assert!((x.hypot(y) - 0.5).abs() < 0.03, "({x}, {y})");
        }
    }

    #[test]
    fn quantile_levels_are_increasing_and_inside_the_range() {
        let levels = quantile_levels(&cone(), 5);
        assert_eq!(levels.len(), 5);
        assert!(levels.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(levels[0] > 0.0 && levels[4] < 1.5);
    }

    #[test]
    fn a_path_leaving_the_bounds_stops_on_the_edge() {
        let bounds = Bounds {
            x: (0.0, 1.0),
            y: (0.0, 1.0),
        };
        let clipped = clip_to_bounds(&[[0.5, 0.5], [0.5, 0.9], [0.5, 3.0], [0.5, 0.5]], &bounds);
        assert_eq!(
            clipped,
            vec![(0.5, 0.5), (0.5, f64::from(0.9_f32)), (0.5, 1.0)]
        );
    }
}
