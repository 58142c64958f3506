//! What a run shows and leaves behind: a progress bar on a terminal, one
//! line per epoch otherwise, and `metrics.csv` / `curves.svg`.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::history::{EpochRecord, History};
use crate::metrics_log::{Curve, CurvesPanel};
use crate::teaching::PALETTE;

/// How much a run prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verbosity {
    /// A progress bar when stdout is a terminal, plain lines when it is not
    /// (a log file, CI).
    #[default]
    Auto,
    /// One line per epoch, and warnings; never a progress bar.
    Plain,
    /// Nothing but warnings on stderr.
    Quiet,
}

/// Prints a run's progress as its verbosity asks.
pub(crate) struct Reporter {
    bar_wanted: bool,
    lines: bool,
    bar: Option<ProgressBar>,
    epoch_start: Instant,
    samples: usize,
    running_loss: Option<f32>,
}

impl Reporter {
    pub(crate) fn new(verbosity: Verbosity) -> Self {
        let (bar_wanted, lines) = match verbosity {
            Verbosity::Auto => (std::io::stdout().is_terminal(), true),
            Verbosity::Plain => (false, true),
            Verbosity::Quiet => (false, false),
        };
        Self {
            bar_wanted,
            lines,
            bar: None,
            epoch_start: Instant::now(),
            samples: 0,
            running_loss: None,
        }
    }

    pub(crate) fn begin_epoch(&mut self, epoch: u64, epochs: u64, batches: usize) {
        self.epoch_start = Instant::now();
        self.samples = 0;
        self.running_loss = None;
        if self.bar_wanted {
            let style = ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
            )
            .expect("a valid template")
            .progress_chars("=> ");
            self.bar = Some(
                ProgressBar::new(batches as u64)
                    .with_style(style)
                    .with_prefix(format!("{epoch}/{epochs}")),
            );
        }
    }

    pub(crate) fn step(&mut self, loss: f32, samples: usize) {
        let Some(bar) = &self.bar else {
            return;
        };
        self.samples += samples;
        let smoothed = self
            .running_loss
            .map_or(loss, |running| 0.98 * running + 0.02 * loss);
        self.running_loss = Some(smoothed);
        bar.inc(1);
        if bar.position().is_multiple_of(25) {
            let rate = self.samples as f64 / self.epoch_start.elapsed().as_secs_f64();
            bar.set_message(format!("loss {smoothed:.4}, {rate:.0} samples/s"));
        }
    }

    /// Ends the epoch's bar and prints its line if `shown`; `validation`
    /// is the held-out set's name (`val`).
    pub(crate) fn end_epoch(
        &mut self,
        record: &EpochRecord,
        epochs: u64,
        validation: &str,
        shown: bool,
    ) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.lines && shown {
            println!("{}", epoch_line(record, epochs, validation));
        }
    }

    pub(crate) fn message(&mut self, message: &str) {
        if !self.lines {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(message),
            None => println!("{message}"),
        }
    }

    pub(crate) fn warn(&mut self, warning: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("warning: {warning}")),
            None => eprintln!("warning: {warning}"),
        }
    }

    pub(crate) fn abandon(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Whether epoch `epoch` of `epochs` gets its line when every `every`-th
/// is printed: the first, every `every`-th, the last, and one that stops
/// the run.
pub(crate) fn line_shown(epoch: u64, epochs: u64, every: u64, stopping: bool) -> bool {
    epoch == 1 || epoch.is_multiple_of(every) || epoch >= epochs || stopping
}

/// `epoch   3/20: train loss 0.4933 | val loss 0.4119, accuracy 85.63% | lr 1.00e-3 | 0.9s, 68712 samples/s`,
/// the held-out set named `validation` (`val`).
pub(crate) fn epoch_line(record: &EpochRecord, epochs: u64, validation: &str) -> String {
    let mut line = format!(
        "epoch {:>3}/{epochs}: train loss {:.4}",
        record.epoch, record.train_loss
    );
    if !record.validation.is_empty() {
        let prefix = format!("{validation}_");
        let figures: Vec<String> = record
            .validation
            .iter()
            .map(|(name, value)| {
                let name = name.strip_prefix(&prefix).unwrap_or(name);
                if name == "accuracy" {
                    format!("accuracy {:.2}%", 100.0 * value)
                } else {
                    format!("{} {value:.4}", name.replace('_', " "))
                }
            })
            .collect();
        line.push_str(&format!(" | {validation} {}", figures.join(", ")));
    }
    line.push_str(&format!(
        " | lr {:.2e} | {:.1}s, {:.0} samples/s",
        record.learning_rate, record.seconds, record.samples_per_second
    ));
    line
}

/// Writes `metrics.csv` and `curves.svg` into `out`: the losses in one
/// panel, the monitored figure in another when it is not a loss; the
/// held-out set is named `validation` (`val`).
pub(crate) fn write_curves(
    out: &Path,
    history: &History,
    monitor: &str,
    validation: &str,
) -> Result<(), String> {
    let log = history.to_metrics_log();
    let has = |name: &str| history.last().is_some_and(|r| r.get(name).is_some());
    let held_out_loss = format!("{validation}_loss");
    let label = if validation == "val" {
        "validation"
    } else {
        validation
    };
    let mut loss_curves = vec![Curve::solid("train", "train_loss", PALETTE[0])];
    if has(&held_out_loss) {
        loss_curves.push(Curve::dashed(label, &held_out_loss, PALETTE[1]));
    }
    let mut panels = vec![CurvesPanel {
        title: "Loss",
        y_label: "loss",
        curves: loss_curves,
    }];
    if !monitor.ends_with("loss") && has(monitor) {
        panels.push(CurvesPanel {
            title: monitor,
            y_label: monitor,
            curves: vec![Curve::solid(monitor, monitor, PALETTE[2])],
        });
    }
    log.write(out, &panels).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_held_out_set() {
        let record = EpochRecord {
            epoch: 3,
            steps: 10,
            train_loss: 0.49334,
            learning_rate: 1e-3,
            seconds: 0.91,
            samples_per_second: 68712.4,
            validation: vec![
                ("test_loss".to_owned(), 0.41194),
                ("test_accuracy".to_owned(), 0.8563),
            ],
        };
        assert_eq!(
            epoch_line(&record, 20, "test"),
            "epoch   3/20: train loss 0.4933 | test loss 0.4119, accuracy 85.63% \
             | lr 1.00e-3 | 0.9s, 68712 samples/s"
        );
    }

    #[test]
    fn every_tenth_line_keeps_the_first_the_last_and_a_stop() {
        let shown: Vec<u64> = (1..=25)
            .filter(|&epoch| line_shown(epoch, 25, 10, epoch == 13))
            .collect();
        assert_eq!(shown, [1, 10, 13, 20, 25]);
        assert!((1..=5).all(|epoch| line_shown(epoch, 5, 1, false)));
    }
}
