//! Datasets of any supervised task: real-valued and named-class targets,
//! built from arrays, batched by the loader with the same guarantees as
//! labelled images (coverage, seeded order, drop-last, exact resume, no
//! reallocation, the same batches on 1 and 2 threads).

use descent_data::{Batch, BatchTargets, DataError, DataLoader, Dataset, LoaderState, Targets};
use ndarray::{array, Array2, Array3};

/// `n` samples of 4 features where sample `i` holds `4i..4i+4`, and two
/// target values `-i` and `i / 2`, so that a batch tells which samples it
/// copied.
fn regression(n: usize) -> Dataset {
    let features = Array2::from_shape_fn((n, 4), |(i, j)| (i * 4 + j) as f32);
    let values = Array2::from_shape_fn(
        (n, 2),
        |(i, j)| {
            if j == 0 {
                -(i as f32)
            } else {
                i as f32 / 2.0
            }
        },
    );
    Dataset::from_arrays(features, Targets::values(values).unwrap()).unwrap()
}

#[test]
fn a_regression_dataset_describes_itself() {
    let data = regression(5);
    assert_eq!(data.len(), 5);
    assert_eq!(data.input_size(), 4);
    assert_eq!(data.feature_shape(), &[4]);
    assert_eq!(data.output_size(), 2);
    assert_eq!(data.targets().num_classes(), None);
    assert_eq!(data.values().row(3).to_vec(), vec![-3.0, 1.5]);
    assert_eq!(data.feature(2).to_vec(), vec![8.0, 9.0, 10.0, 11.0]);
}

#[test]
fn features_of_any_shape_are_kept_flat_with_their_shape() {
    let images = Array3::from_shape_fn((3, 2, 5), |(i, r, c)| (i * 10 + r * 5 + c) as f32);
    let targets = Targets::named_classes(vec![0, 1, 1], vec!["cat".into(), "dog".into()]).unwrap();
    let data = Dataset::from_arrays(images, targets).unwrap();
    assert_eq!(data.feature_shape(), &[2, 5]);
    assert_eq!((data.rows(), data.cols(), data.input_size()), (2, 5, 10));
    assert_eq!(data.feature(1)[7], 17.0);
    assert_eq!(data.num_classes(), 2);
    assert_eq!(
        data.targets().class_names().unwrap(),
        &["cat".to_owned(), "dog".to_owned()]
    );

    // A 1-D array is one feature per sample.
    let data = Dataset::from_arrays(
        array![1.0f32, 2.0],
        Targets::values(array![[0.0f32], [1.0]]).unwrap(),
    )
    .unwrap();
    assert_eq!((data.feature_shape(), data.input_size()), (&[1][..], 1));
}

#[test]
fn arrays_that_do_not_fit_are_errors() {
    let err = Dataset::from_arrays(
        Array2::<f32>::zeros((3, 2)),
        Targets::values(Array2::zeros((2, 1))).unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TargetCountMismatch {
                samples: 3,
                targets: 2
            }
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "3 samples but 2 targets");

    let mut features = Array2::<f32>::zeros((2, 2));
    features[[1, 0]] = f32::INFINITY;
    let err = Dataset::from_arrays(features, Targets::classes(vec![0, 0], 1).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "feature 0 of sample 1 is inf; features must be finite"
    );

    let err = Targets::values(array![[1.0f32, f32::NAN]]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "target 1 of sample 0 is NaN; targets must be finite"
    );
    let err = Targets::values(Array2::zeros((3, 0))).unwrap_err();
    assert!(matches!(err, DataError::NoTargetColumns), "{err}");
    let err = Targets::classes(vec![0, 3], 3).unwrap_err();
    assert!(
        matches!(err, DataError::LabelOutOfRange { label: 3, .. }),
        "{err}"
    );

    // Targets written as an enum literal are checked too.
    let forged = Targets::Classes {
        labels: vec![0, 1],
        num_classes: 2,
        names: Some(vec!["only one".into()]),
    };
    let err = Dataset::from_arrays(Array2::<f32>::zeros((2, 1)), forged).unwrap_err();
    assert_eq!(err.to_string(), "1 class names for 2 classes");
}

#[test]
fn batches_hold_the_selected_rows_and_values() {
    let data = regression(23);
    let mut loader = DataLoader::new(data.len(), 5, 9);
    let mut batch = Batch::new();
    let mut seen = Vec::new();
    while loader.next_batch(&data, &mut batch) {
        assert_eq!(batch.features().dim(), (batch.len(), 4));
        let BatchTargets::Values(values) = batch.targets() else {
            panic!("a regression batch holds values");
        };
        assert_eq!(values.dim(), (batch.len(), 2));
        for (row, &index) in batch.indices().iter().enumerate() {
            assert_eq!(batch.features().row(row), data.feature(index));
            assert_eq!(batch.values().row(row), data.values().row(index));
        }
        seen.extend_from_slice(batch.indices());
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..23).collect::<Vec<_>>());
}

#[test]
#[should_panic(expected = "Batch::labels: the batch holds real-valued targets")]
fn asking_a_regression_batch_for_labels_is_a_programming_error() {
    let data = regression(4);
    let mut batch = Batch::new();
    batch.fill(&data, &[0, 1]);
    let _ = batch.labels();
}

#[test]
fn one_batch_serves_class_and_value_datasets_in_turn() {
    let values = regression(6);
    let classes = Dataset::new(Array2::zeros((6, 4)), vec![0, 1, 2, 0, 1, 2], 1, 4, 3).unwrap();
    let mut batch = Batch::new();
    batch.fill(&values, &[1, 2]);
    assert_eq!(batch.values(), array![[-1.0f32, 0.5], [-2.0, 1.0]]);
    batch.fill(&classes, &[4, 5, 0]);
    assert_eq!(batch.targets(), BatchTargets::Classes(&[1, 2, 0]));
    batch.fill(&values, &[5]);
    assert_eq!(batch.values(), array![[-5.0f32, 2.5]]);
}

#[test]
fn drop_last_and_exact_resume_work_for_values() {
    let data = regression(37);
    let run = |loader: &mut DataLoader, steps: usize| {
        let mut batch = Batch::new();
        let mut out = Vec::new();
        while out.len() < steps {
            if loader.next_batch(&data, &mut batch) {
                out.push((batch.indices().to_vec(), batch.values().clone()));
            }
        }
        out
    };
    let mut whole = DataLoader::new(data.len(), 8, 5).with_drop_last(true);
    assert_eq!(whole.batches_per_epoch(), 4);
    let expected = run(&mut whole, 10);
    assert!(expected.iter().all(|(indices, _)| indices.len() == 8));

    let mut first = DataLoader::new(data.len(), 8, 5).with_drop_last(true);
    let mut got = run(&mut first, 6);
    let bytes = serde_json_like(&first.state());
    let state: LoaderState = restore(&bytes);
    let mut resumed = DataLoader::from_state(state, data.len()).unwrap();
    got.extend(run(&mut resumed, 4));
    assert_eq!(got, expected);
}

/// Round-trips a loader state through bincode, as a checkpoint does.
fn serde_json_like(state: &LoaderState) -> Vec<u8> {
    bincode::serde::encode_to_vec(state, bincode::config::standard()).unwrap()
}

fn restore(bytes: &[u8]) -> LoaderState {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .unwrap()
        .0
}

#[test]
fn refilling_a_batch_of_values_does_not_reallocate() {
    let data = regression(40);
    let mut loader = DataLoader::new(data.len(), 10, 2);
    let mut batch = Batch::with_capacity(10, data.input_size());
    assert!(loader.next_batch(&data, &mut batch));
    let (features, values) = (batch.features().as_ptr(), batch.values().as_ptr());
    for _ in 0..3 {
        while loader.next_batch(&data, &mut batch) {
            assert_eq!(batch.features().as_ptr(), features, "features reallocated");
            assert_eq!(batch.values().as_ptr(), values, "values reallocated");
        }
    }
}

#[test]
fn swapped_value_buffers_are_written_where_they_are() {
    let data = regression(10);
    let mut batch = Batch::new();
    batch.fill(&data, &[0, 1, 2]);
    let storage = Array2::from_elem((3, 2), f32::NAN);
    let address = storage.as_ptr();
    let first = batch.swap_values(storage);
    batch.fill(&data, &[0, 1, 2]);
    assert_eq!(batch.values().as_ptr(), address);
    assert_eq!(batch.values(), first);
}

#[test]
fn large_regression_batches_are_the_same_on_one_and_two_threads() {
    // 128 rows of 784 features is above the size at which the gather splits
    // across threads.
    let features = Array2::from_shape_fn((300, 784), |(i, j)| ((i * 784 + j) % 1000) as f32);
    let values = Array2::from_shape_fn((300, 3), |(i, j)| (i * 3 + j) as f32);
    let data = Dataset::from_arrays(features, Targets::values(values).unwrap()).unwrap();
    let batches = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut loader = DataLoader::new(data.len(), 128, 3);
            let mut batch = Batch::new();
            let mut out = Vec::new();
            for _ in 0..2 {
                while loader.next_batch(&data, &mut batch) {
                    out.push((batch.features().clone(), batch.values().clone()));
                }
            }
            out
        })
    };
    let (one, two) = (batches(1), batches(2));
    assert_eq!(one.len(), 6);
    for ((f1, v1), (f2, v2)) in one.iter().zip(&two) {
        assert!(f1.iter().zip(f2).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert_eq!(v1, v2);
    }
}

#[test]
fn subsets_take_and_skip_copy_features_and_targets() {
    let data = regression(6);
    let picked = data.subset(&[4, 1, 4]);
    assert_eq!(picked.len(), 3);
    assert_eq!(picked.feature(0), data.feature(4));
    assert_eq!(picked.values().row(1), data.values().row(1));
    assert_eq!(picked.values().row(2), data.values().row(4));
    assert_eq!(
        data.take(2).values(),
        &data.values().slice(ndarray::s![..2, ..])
    );
    assert_eq!(
        data.skip(4).values(),
        &data.values().slice(ndarray::s![4.., ..])
    );
    assert_eq!(data.skip(10).len(), 0);
    assert_eq!(data.take(10).len(), 6);
}

#[test]
#[should_panic(expected = "Dataset::subset: index 6 out of range for a dataset of 6 samples")]
fn a_subset_index_out_of_range_is_a_programming_error() {
    regression(6).subset(&[0, 6]);
}
