//! Seeded random splits of a dataset into training, validation and test
//! sets, stratified by class when the targets are classes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Dataset, Targets};

/// The sample indices of each part of a split, each list in shuffled order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitIndices {
    /// The training samples.
    pub train: Vec<usize>,
    /// The validation samples (empty for a validation fraction of 0).
    pub validation: Vec<usize>,
    /// The test samples: all the others.
    pub test: Vec<usize>,
}

/// A dataset split into training, validation and test sets; see
/// [`Dataset::split`].
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The training set.
    pub train: Dataset,
    /// The validation set (empty for a validation fraction of 0).
    pub validation: Dataset,
    /// The test set.
    pub test: Dataset,
}

/// Shuffles `items` with a Fisher–Yates shuffle drawing `u64`s from `rng`.
///
/// Hand-written rather than `rand`'s `shuffle` so that a split depends only
/// on ChaCha8's output and this loop, never on the width of `usize` or on
/// how `rand` draws indices: the same seed gives the same split on any
/// machine (a test pins one).
fn shuffle(items: &mut [usize], rng: &mut ChaCha8Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i as u64) as usize;
        items.swap(i, j);
    }
}

/// Where a group of `len` samples is cut: the first `train` go to training,
/// the next `validation` to validation, the rest to test. Rounds to nearest.
fn cut(len: usize, train: f64, validation: f64) -> (usize, usize) {
    let train_end = ((len as f64 * train).round() as usize).min(len);
    let validation_end =
        ((len as f64 * (train + validation)).round() as usize).clamp(train_end, len);
    (train_end, validation_end)
}

/// Splits the indices `0..len` at random into training, validation and
/// test parts of about `train`, `validation` and `1 - train - validation`
/// of them, without stratification. Same seed, same split, on any machine.
///
/// # Panics
/// If a fraction is negative or not finite, or `train + validation > 1`.
pub fn random_split_indices(len: usize, train: f64, validation: f64, seed: u64) -> SplitIndices {
    check_fractions(train, validation);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..len).collect();
    shuffle(&mut order, &mut rng);
    let (train_end, validation_end) = cut(len, train, validation);
    SplitIndices {
        train: order[..train_end].to_vec(),
        validation: order[train_end..validation_end].to_vec(),
        test: order[validation_end..].to_vec(),
    }
}

fn check_fractions(train: f64, validation: f64) {
    assert!(
        train.is_finite()
            && validation.is_finite()
            && train >= 0.0
            && validation >= 0.0
            && train + validation <= 1.0 + 1e-9,
        "split: fractions train {train} and validation {validation} must be at least 0 and sum to at most 1"
    );
}

impl Dataset {
    /// The indices of a seeded random split into training, validation and
    /// test parts: about `train` and `validation` of the samples, and the
    /// rest for test. With class targets the split is stratified: each class
    /// is cut in these proportions on its own, so every part has the classes
    /// in about the dataset's proportions. Same seed, same split, on any
    /// machine.
    ///
    /// # Panics
    /// If a fraction is negative or not finite, or `train + validation > 1`.
    pub fn split_indices(&self, train: f64, validation: f64, seed: u64) -> SplitIndices {
        let Targets::Classes {
            labels,
            num_classes,
            ..
        } = self.targets()
        else {
            return random_split_indices(self.len(), train, validation, seed);
        };
        check_fractions(train, validation);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut by_class = vec![Vec::new(); *num_classes];
        for (index, &label) in labels.iter().enumerate() {
            by_class[label].push(index);
        }
        let mut split = SplitIndices::default();
        for mut members in by_class {
            shuffle(&mut members, &mut rng);
            let (train_end, validation_end) = cut(members.len(), train, validation);
            split.train.extend_from_slice(&members[..train_end]);
            split
                .validation
                .extend_from_slice(&members[train_end..validation_end]);
            split.test.extend_from_slice(&members[validation_end..]);
        }
        // Classes were appended one after another; mix them.
        shuffle(&mut split.train, &mut rng);
        shuffle(&mut split.validation, &mut rng);
        shuffle(&mut split.test, &mut rng);
        split
    }

    /// A seeded random split into training, validation and test sets
    /// (copies), stratified by class for class targets: see
    /// [`Dataset::split_indices`].
    ///
    /// ```
    /// use descent_data::{Dataset, Targets};
    /// use ndarray::Array2;
    ///
    /// let labels: Vec<usize> = (0..100).map(|i| i % 2).collect();
    /// let data = Dataset::from_arrays(Array2::<f32>::zeros((100, 3)), Targets::classes(labels, 2)?)?;
    /// let split = data.split(0.8, 0.0, 42);
    /// assert_eq!((split.train.len(), split.validation.len(), split.test.len()), (80, 0, 20));
    /// assert_eq!(split.test.labels().iter().filter(|&&l| l == 1).count(), 10);
    /// # Ok::<(), descent_data::DataError>(())
    /// ```
    ///
    /// # Panics
    /// As [`Dataset::split_indices`].
    pub fn split(&self, train: f64, validation: f64, seed: u64) -> Split {
        let indices = self.split_indices(train, validation, seed);
        Split {
            train: self.subset(&indices.train),
            validation: self.subset(&indices.validation),
            test: self.subset(&indices.test),
        }
    }
}
