//! Seeded splits (stratified for classes) and the standard scaler.

use descent_data::{random_split_indices, Dataset, StandardScaler, Targets};
use ndarray::{array, Array2};

fn classes(counts: &[usize]) -> Dataset {
    let labels: Vec<usize> = counts
        .iter()
        .enumerate()
        .flat_map(|(class, &n)| std::iter::repeat_n(class, n))
        .collect();
    let n = labels.len();
    let features = Array2::from_shape_fn((n, 2), |(i, j)| (i * 2 + j) as f32);
    Dataset::from_arrays(features, Targets::classes(labels, counts.len()).unwrap()).unwrap()
}

fn count(labels: &[usize], class: usize) -> usize {
    labels.iter().filter(|&&l| l == class).count()
}

#[test]
fn a_split_partitions_the_samples_in_the_fractions_asked() {
    let split = random_split_indices(100, 0.7, 0.1, 3);
    assert_eq!(
        (split.train.len(), split.validation.len(), split.test.len()),
        (70, 10, 20)
    );
    let mut all = [split.train, split.validation, split.test].concat();
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
}

#[test]
fn same_seed_same_split_on_any_machine() {
    // Pinned: this is what seed 0 gives, whatever the machine (the shuffle
    // draws u64s from ChaCha8 only).
    let split = random_split_indices(10, 0.6, 0.2, 0);
    assert_eq!(split, random_split_indices(10, 0.6, 0.2, 0));
    assert_ne!(split, random_split_indices(10, 0.6, 0.2, 1));
    assert_eq!(split.train, [6, 1, 8, 3, 2, 9]);
    assert_eq!(split.validation, [0, 5]);
    assert_eq!(split.test, [4, 7]);
}

#[test]
fn class_splits_are_stratified() {
    let data = classes(&[50, 30, 20]);
    let split = data.split(0.8, 0.0, 42);
    assert_eq!((split.train.len(), split.test.len()), (80, 20));
    let test = split.test.labels();
    assert_eq!((count(test, 0), count(test, 1), count(test, 2)), (10, 6, 4));
    // Each sample went with its own features and label.
    for (i, &label) in split.train.labels().iter().enumerate() {
        let original = split.train.feature(i)[0] as usize / 2;
        assert_eq!(data.label(original), label);
    }
    // The classes are mixed, not one block after another.
    assert_ne!(&split.train.labels()[..40], &[0; 40][..]);

    let split = data.split(0.6, 0.2, 1);
    let validation = split.validation.labels();
    assert_eq!(
        (
            count(validation, 0),
            count(validation, 1),
            count(validation, 2)
        ),
        (10, 6, 4)
    );
}

#[test]
fn regression_splits_cut_the_shuffled_samples() {
    let values = Array2::from_shape_fn((50, 1), |(i, _)| i as f32);
    let data = Dataset::from_arrays(values.clone(), Targets::values(values).unwrap()).unwrap();
    let split = data.split(0.8, 0.0, 5);
    assert_eq!(
        (split.train.len(), split.validation.len(), split.test.len()),
        (40, 0, 10)
    );
    for i in 0..split.test.len() {
        assert_eq!(split.test.feature(i)[0], split.test.values()[[i, 0]]);
    }
    assert_eq!(
        data.split_indices(0.8, 0.0, 5),
        random_split_indices(50, 0.8, 0.0, 5)
    );
}

#[test]
#[should_panic(
    expected = "split: fractions train 0.8 and validation 0.3 must be at least 0 and sum to at most 1"
)]
fn fractions_over_one_are_a_programming_error() {
    random_split_indices(10, 0.8, 0.3, 0);
}

#[test]
fn the_scaler_standardises_with_training_statistics_only() {
    let train = Dataset::from_arrays(
        array![[1.0f32, 5.0, 7.0], [3.0, 5.0, 9.0], [5.0, 5.0, 11.0]],
        Targets::values(array![[10.0f32], [20.0], [30.0]]).unwrap(),
    )
    .unwrap();
    let test = Dataset::from_arrays(
        array![[7.0f32, 6.0, 9.0]],
        Targets::values(array![[40.0f32]]).unwrap(),
    )
    .unwrap();
    let scaler = StandardScaler::fit_with_targets(&train);
    let std = (8.0f32 / 3.0).sqrt();
    assert_eq!(scaler.feature_mean(), &[3.0, 5.0, 9.0]);
    assert_eq!(
        scaler.feature_std()[1],
        1.0,
        "a constant column is only shifted"
    );
    assert!((scaler.feature_std()[0] - std).abs() < 1e-6);
    let scaled = scaler.transform(&test);
    let expected = [4.0 / std, 1.0, 0.0];
    for (got, want) in scaled.features().iter().zip(expected) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    let target_std = (200.0f32 / 3.0).sqrt();
    assert!((scaled.values()[[0, 0]] - 20.0 / target_std).abs() < 1e-5);

    // Predictions come back in the targets' units.
    let mut predictions = scaled.values().clone();
    scaler.inverse_transform_targets(predictions.view_mut());
    assert!((predictions[[0, 0]] - 40.0).abs() < 1e-4);

    // Features only: the targets stay as they were.
    let features_only = StandardScaler::fit(&train).transform(&test);
    assert_eq!(features_only.values(), test.values());
    assert!(StandardScaler::fit(&train).target_statistics().is_none());
}

#[test]
fn the_scaler_round_trips_through_serde_and_named_tensors() {
    let train = Dataset::from_arrays(
        array![[1.0f32, 2.0], [3.0, 8.0]],
        Targets::values(array![[1.0f32], [5.0]]).unwrap(),
    )
    .unwrap();
    let scaler = StandardScaler::fit_with_targets(&train);
    let bytes = bincode::serde::encode_to_vec(&scaler, bincode::config::standard()).unwrap();
    let (back, _): (StandardScaler, usize) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    assert_eq!(back, scaler);

    let tensors = scaler.to_tensors("scaler");
    let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "scaler.feature_mean",
            "scaler.feature_std",
            "scaler.target_mean",
            "scaler.target_std"
        ]
    );
    let view = tensors.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
    assert_eq!(
        StandardScaler::from_tensors(view, "scaler").unwrap(),
        scaler
    );

    let broken = [
        ("scaler.feature_mean", &[1.0f32][..]),
        ("scaler.feature_std", &[0.0][..]),
    ];
    let err = StandardScaler::from_tensors(broken, "scaler").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot rebuild a StandardScaler from the tensors under `scaler`: feature_std holds 0, not a positive number"
    );
    let err = StandardScaler::from_tensors([], "scaler").unwrap_err();
    assert!(
        err.to_string()
            .contains("no feature_mean or feature_std tensor"),
        "{err}"
    );
}

#[test]
#[should_panic(expected = "StandardScaler: fitted on 2 feature columns, given 3")]
fn scaling_features_of_another_width_is_a_programming_error() {
    let train = Dataset::new(Array2::zeros((2, 2)), vec![0, 0], 1, 2, 1).unwrap();
    StandardScaler::fit(&train).transform_features(Array2::zeros((1, 3)).view_mut());
}
