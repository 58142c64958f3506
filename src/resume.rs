//! Resuming a run with command-line settings: which saved settings a flag
//! may change, and how, so that a resumed run never prints one value and
//! trains with another.
//!
//! A run's [`RunSettings`] go into its checkpoint's notes
//! ([`RunSettings::to_notes`]). On resume, [`plan_resume`] compares them
//! with the flags the user passed ([`RequestedSettings`], `None` for a flag
//! not given) and either refuses, naming the flag, or returns the settings
//! to train with and a line for every change it applies:
//!
//! - `--hidden`, `--optimizer`, `--seed`, `--batch-size`: refused when they
//!   differ. The weights, the optimizer's buffers and the data order come
//!   from the saved run and cannot be carried over to other ones.
//! - `--lr`: applied. It becomes the schedule's new base rate: the schedule
//!   is re-planned from it over the run's epochs and the rate continues from
//!   where that plan stands at the resumed epoch.
//! - `--epochs`: applied when it is more than the epochs already done. The
//!   schedule is re-planned over the new total (a cosine stretches to end at
//!   the new last epoch, instead of restarting after the old one).
//! - `--schedule`: applied, re-planned the same way.
//!
//! When nothing changes, the saved schedule continues as it was, bit for bit.

use std::fmt;

/// The settings of a run that a resume must keep or change explicitly.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    /// Total epochs the run is planned for.
    pub epochs: u64,
    /// Samples per batch.
    pub batch_size: usize,
    /// The base learning rate the schedule starts from.
    pub lr: f64,
    /// The seed of the initialisation and the shuffling.
    pub seed: u64,
    /// The optimizer's name, as the command line spells it.
    pub optimizer: String,
    /// The schedule's name, as the command line spells it.
    pub schedule: String,
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
}

/// The first word of the notes line that records [`RunSettings`].
const NOTES_TAG: &str = "descent-run-settings";

impl RunSettings {
    /// One line of `key=value` pairs for a checkpoint's notes.
    pub fn to_notes(&self) -> String {
        let hidden: Vec<String> = self.hidden.iter().map(ToString::to_string).collect();
        // `{}` prints the shortest decimal that parses back to the same f64.
        format!(
            "{NOTES_TAG} epochs={} batch_size={} lr={} seed={} optimizer={} schedule={} hidden={}",
            self.epochs,
            self.batch_size,
            self.lr,
            self.seed,
            self.optimizer,
            self.schedule,
            hidden.join(",")
        )
    }

    /// The settings recorded in `notes` by [`RunSettings::to_notes`].
    ///
    /// # Errors
    /// If no line of `notes` records settings, or the line is damaged
    /// (naming the key).
    pub fn from_notes(notes: &str) -> Result<Self, String> {
        let line = notes
            .lines()
            .find(|line| line.starts_with(NOTES_TAG))
            .ok_or("the checkpoint does not record its run's settings")?;
        let value = |key: &str| -> Result<&str, String> {
            line.split_whitespace()
                .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
                .ok_or_else(|| format!("the checkpoint's settings lack `{key}`"))
        };
        let number = |key: &str| -> Result<u64, String> {
            value(key)?
                .parse()
                .map_err(|_| format!("the checkpoint's setting `{key}` is not a number"))
        };
        let lr: f64 = value("lr")?
            .parse()
            .map_err(|_| "the checkpoint's setting `lr` is not a number".to_owned())?;
        let hidden = value("hidden")?;
        let hidden = if hidden.is_empty() {
            Vec::new()
        } else {
            hidden
                .split(',')
                .map(str::parse)
                .collect::<Result<Vec<usize>, _>>()
                .map_err(|_| "the checkpoint's setting `hidden` is not a list of widths")?
        };
        Ok(RunSettings {
            epochs: number("epochs")?,
            batch_size: usize::try_from(number("batch_size")?)
                .map_err(|_| "the checkpoint's setting `batch_size` is too large")?,
            lr,
            seed: number("seed")?,
            optimizer: value("optimizer")?.to_owned(),
            schedule: value("schedule")?.to_owned(),
            hidden,
        })
    }
}

/// The flags a user passed on resume; `None` for one not given, which keeps
/// the saved value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestedSettings {
    /// `--epochs`.
    pub epochs: Option<u64>,
    /// `--batch-size`.
    pub batch_size: Option<usize>,
    /// `--lr`.
    pub lr: Option<f64>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--optimizer`.
    pub optimizer: Option<String>,
    /// `--schedule`.
    pub schedule: Option<String>,
    /// `--hidden`.
    pub hidden: Option<Vec<usize>>,
}

/// What a resume does: the settings to train with, whether the schedule is
/// re-planned from them, and a line per change, to print.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumePlan {
    /// The settings the resumed run trains with.
    pub settings: RunSettings,
    /// Whether to rebuild the schedule from `settings` (base rate, epochs,
    /// kind) and replay it to the resumed epoch, instead of continuing the
    /// saved one.
    pub replan_schedule: bool,
    /// One line per applied change.
    pub changes: Vec<String>,
}

/// A flag whose value conflicts with the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeConflict {
    /// The flag, as typed (`--batch-size`).
    pub flag: &'static str,
    /// Why it is refused, with both values.
    pub message: String,
}

impl fmt::Display for ResumeConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.flag, self.message)
    }
}

impl std::error::Error for ResumeConflict {}

/// Decides how to resume a run saved with `saved` settings after
/// `epochs_done` epochs, given the flags passed now; see the module
/// documentation for the rules.
///
/// # Errors
/// A [`ResumeConflict`] naming the first flag that cannot be applied.
pub fn plan_resume(
    saved: &RunSettings,
    requested: &RequestedSettings,
    epochs_done: u64,
) -> Result<ResumePlan, ResumeConflict> {
    fn refuse<T: PartialEq + fmt::Debug>(
        flag: &'static str,
        requested: &Option<T>,
        saved: &T,
        why: &str,
    ) -> Result<(), ResumeConflict> {
        match requested {
            Some(value) if value != saved => Err(ResumeConflict {
                flag,
                message: format!("{value:?} differs from the checkpoint's {saved:?}; {why}"),
            }),
            _ => Ok(()),
        }
    }
    refuse(
        "--hidden",
        &requested.hidden,
        &saved.hidden,
        "the saved weights have the checkpoint's shapes",
    )?;
    refuse(
        "--optimizer",
        &requested.optimizer,
        &saved.optimizer,
        "the optimizer's saved state belongs to the checkpoint's",
    )?;
    refuse(
        "--seed",
        &requested.seed,
        &saved.seed,
        "the weights and the data order continue from the checkpoint's seed",
    )?;
    refuse(
        "--batch-size",
        &requested.batch_size,
        &saved.batch_size,
        "the data loader resumes mid-run with the checkpoint's batches",
    )?;

    let mut settings = saved.clone();
    let mut changes = Vec::new();
    if let Some(epochs) = requested.epochs.filter(|&epochs| epochs != saved.epochs) {
        if epochs <= epochs_done {
            return Err(ResumeConflict {
                flag: "--epochs",
                message: format!(
                    "{epochs} is not more than the {epochs_done} epoch(s) the checkpoint \
                     has already trained"
                ),
            });
        }
        changes.push(format!(
            "--epochs {epochs} (was {}): the schedule is re-planned over {epochs} epochs",
            saved.epochs
        ));
        settings.epochs = epochs;
    }
    if let Some(lr) = requested.lr.filter(|&lr| lr != saved.lr) {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(ResumeConflict {
                flag: "--lr",
                message: format!("{lr} is not a positive number"),
            });
        }
        changes.push(format!(
            "--lr {lr} (was {}): the new base rate of the schedule, re-planned from it",
            saved.lr
        ));
        settings.lr = lr;
    }
    if let Some(schedule) = requested
        .schedule
        .as_ref()
        .filter(|&schedule| schedule != &saved.schedule)
    {
        changes.push(format!(
            "--schedule {schedule} (was {}): re-planned over the run's epochs",
            saved.schedule
        ));
        settings.schedule = schedule.clone();
    }
    if epochs_done > settings.epochs {
        return Err(ResumeConflict {
            flag: "--epochs",
            message: format!(
                "the checkpoint has already trained {epochs_done} epoch(s) of {}",
                settings.epochs
            ),
        });
    }
    Ok(ResumePlan {
        replan_schedule: !changes.is_empty(),
        settings,
        changes,
    })
}
