//! A training run's per-epoch figures, written as `metrics.csv` and drawn as
//! `curves.svg`: what the MNIST and tabular examples leave behind.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::teaching::{draw_figure, CurvePanel, CurveSeries, Legend, Panel, RGBColor};

/// A table of figures, one row per epoch, with named columns (the first is
/// usually `epoch`).
///
/// ```
/// use descent::metrics_log::MetricsLog;
///
/// let mut log = MetricsLog::new(&["epoch", "train_loss", "test_loss"]);
/// log.push(&[1.0, 0.9, 1.1]);
/// log.push(&[2.0, 0.5, 0.7]);
/// assert_eq!(log.points("epoch", "test_loss"), [(1.0, 1.1), (2.0, 0.7)]);
/// assert_eq!(log.to_csv(), "epoch,train_loss,test_loss\n1,0.9,1.1\n2,0.5,0.7\n");
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsLog {
    columns: Vec<String>,
    rows: Vec<Vec<f64>>,
}

/// One curve of a panel: which column against which, and how it looks.
#[derive(Debug, Clone)]
pub struct Curve<'a> {
    /// The legend entry.
    pub label: &'a str,
    /// The column on the y axis.
    pub column: &'a str,
    /// The line's colour.
    pub color: RGBColor,
    /// Dashed instead of solid.
    pub dashed: bool,
}

impl<'a> Curve<'a> {
    /// A solid line of `column`, labelled `label`.
    pub fn solid(label: &'a str, column: &'a str, color: RGBColor) -> Self {
        Self {
            label,
            column,
            color,
            dashed: false,
        }
    }

    /// A dashed line of `column` (a held-out figure beside a training one).
    pub fn dashed(label: &'a str, column: &'a str, color: RGBColor) -> Self {
        Self {
            dashed: true,
            ..Self::solid(label, column, color)
        }
    }
}

/// One panel of `curves.svg`: a title, axis labels and curves against the
/// `epoch` column.
#[derive(Debug, Clone)]
pub struct CurvesPanel<'a> {
    /// The caption.
    pub title: &'a str,
    /// The y axis' label.
    pub y_label: &'a str,
    /// The curves.
    pub curves: Vec<Curve<'a>>,
}

impl MetricsLog {
    /// An empty log with these columns.
    pub fn new(columns: &[&str]) -> Self {
        Self {
            columns: columns.iter().map(|&c| c.to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row, one value per column.
    ///
    /// # Panics
    /// If `row` has another length than the columns.
    pub fn push(&mut self, row: &[f64]) {
        assert_eq!(
            row.len(),
            self.columns.len(),
            "MetricsLog::push: {} values for {} columns",
            row.len(),
            self.columns.len()
        );
        self.rows.push(row.to_vec());
    }

    /// The rows so far.
    pub fn rows(&self) -> &[Vec<f64>] {
        &self.rows
    }

    /// The values of column `name`, row by row.
    ///
    /// # Panics
    /// If there is no such column.
    pub fn column(&self, name: &str) -> Vec<f64> {
        let index = self.index(name);
        self.rows.iter().map(|row| row[index]).collect()
    }

    /// `(x, y)` pairs of two columns, row by row.
    ///
    /// # Panics
    /// If either column does not exist.
    pub fn points(&self, x: &str, y: &str) -> Vec<(f64, f64)> {
        let (x, y) = (self.index(x), self.index(y));
        self.rows.iter().map(|row| (row[x], row[y])).collect()
    }

    fn index(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("MetricsLog: no column `{name}` in {:?}", self.columns))
    }

    /// The log as CSV: a header, then one line per row; whole numbers are
    /// written without a fraction, others in the shortest form that reads
    /// back to the same `f64`.
    pub fn to_csv(&self) -> String {
        let mut csv = self.columns.join(",");
        csv.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|&value| {
                    if value.fract() == 0.0 && value.abs() < 1e15 {
                        format!("{}", value as i64)
                    } else {
                        format!("{value}")
                    }
                })
                .collect();
            let _ = writeln!(csv, "{}", cells.join(","));
        }
        csv
    }

    /// Writes `metrics.csv` and `curves.svg` (one panel per entry of
    /// `panels`, each curve against the `epoch` column) into `out`, creating
    /// it, and returns the two paths.
    ///
    /// # Errors
    /// A message naming the file that could not be written.
    pub fn write(
        &self,
        out: &Path,
        panels: &[CurvesPanel<'_>],
    ) -> Result<(PathBuf, PathBuf), String> {
        std::fs::create_dir_all(out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let csv_path = out.join("metrics.csv");
        std::fs::write(&csv_path, self.to_csv())
            .map_err(|e| format!("cannot write {}: {e}", csv_path.display()))?;
        let svg_path = out.join("curves.svg");
        let panels: Vec<Panel<'_>> = panels
            .iter()
            .map(|panel| {
                Panel::Curves(CurvePanel {
                    title: panel.title.to_owned(),
                    x_label: "epoch".to_owned(),
                    y_label: panel.y_label.to_owned(),
                    curves: panel
                        .curves
                        .iter()
                        .map(|curve| CurveSeries {
                            label: curve.label.to_owned(),
                            points: self.points("epoch", curve.column),
                            color: curve.color,
                            dashed: curve.dashed,
                        })
                        .collect(),
                    legend: Legend::UpperRight,
                    x_log: false,
                })
            })
            .collect();
        draw_figure(&svg_path, &panels).map_err(|e| e.to_string())?;
        Ok((csv_path, svg_path))
    }
}
