//! Batch loading: coverage of every sample, seeded shuffling, drop-last,
//! the three batch sizes of gradient descent, buffer reuse and exact resume
//! from a serialised state.

use descent_data::{Batch, BatchSize, DataError, DataLoader, Dataset, LoaderState, Shard};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// `n` samples of 3 pixels where sample `i` holds `3i, 3i+1, 3i+2`, so a
/// batch's content tells which samples were copied.
fn dataset(n: usize) -> Dataset {
    let images = Array2::from_shape_fn((n, 3), |(i, j)| (i * 3 + j) as f32);
    Dataset::new(images, (0..n).map(|i| i % 5).collect(), 1, 3, 5).unwrap()
}

/// The index lists of the batches of the loader's current epoch.
fn epoch(loader: &mut DataLoader, data: &Dataset) -> Vec<Vec<usize>> {
    let mut batch = Batch::new();
    let mut batches = Vec::new();
    while loader.next_batch(data, &mut batch) {
        batches.push(batch.indices().to_vec());
    }
    batches
}

fn sorted(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v
}

#[test]
fn every_sample_appears_exactly_once_per_epoch() {
    let data = dataset(103);
    let mut loader = DataLoader::new(data.len(), 10, 7);
    assert_eq!(loader.batches_per_epoch(), 11);
    for e in 0..3 {
        assert_eq!(loader.epoch(), e);
        let batches = epoch(&mut loader, &data);
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [vec![10; 10], vec![3]].concat());
        assert_eq!(sorted(batches.concat()), (0..103).collect::<Vec<_>>());
    }
    assert_eq!(loader.epoch(), 3);
}

#[test]
fn batches_hold_the_selected_rows_and_labels() {
    let data = dataset(20);
    let mut loader = DataLoader::new(data.len(), 6, 1);
    let mut batch = Batch::new();
    while loader.next_batch(&data, &mut batch) {
        assert_eq!(batch.images().dim(), (batch.len(), 3));
        assert!(batch.images().is_standard_layout());
        for (row, &index) in batch.indices().iter().enumerate() {
            assert_eq!(batch.images().row(row), data.image(index));
            assert_eq!(batch.labels()[row], data.label(index));
        }
    }
}

#[test]
fn large_batches_gathered_on_two_threads_hold_the_selected_rows() {
    // 128 rows of 784 pixels is above the size at which the gather splits
    // across threads; batch sizes change between calls to exercise resizing.
    let images = Array2::from_shape_fn((300, 784), |(i, j)| (i * 784 + j) as f32);
    let labels = (0..300).map(|i| i % 10).collect();
    let data = Dataset::new(images, labels, 28, 28, 10).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        let mut batch = Batch::new();
        for batch_size in [128, 256, 100] {
            let mut loader = DataLoader::new(data.len(), batch_size, 3);
            while loader.next_batch(&data, &mut batch) {
                assert_eq!(batch.images().dim(), (batch.len(), 784));
                for (row, &index) in batch.indices().iter().enumerate() {
                    assert_eq!(batch.images().row(row), data.image(index));
                }
            }
        }
    });
}

#[test]
fn same_seed_same_batches_other_seed_other_batches() {
    let data = dataset(50);
    let run = |seed| {
        let mut loader = DataLoader::new(data.len(), 8, seed);
        (0..3)
            .map(|_| epoch(&mut loader, &data))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));

    let from_rng = |seed| {
        let mut loader = DataLoader::with_rng(data.len(), 8, ChaCha8Rng::seed_from_u64(seed));
        epoch(&mut loader, &data)
    };
    assert_eq!(from_rng(42), run(42)[0]);
}

#[test]
fn order_is_shuffled_and_differs_across_epochs() {
    let data = dataset(100);
    let mut loader = DataLoader::new(data.len(), 100, 3);
    let first = epoch(&mut loader, &data).concat();
    let second = epoch(&mut loader, &data).concat();
    let identity: Vec<usize> = (0..100).collect();
    assert_ne!(first, identity);
    assert_ne!(second, identity);
    assert_ne!(first, second);
}

#[test]
fn without_shuffle_every_epoch_is_in_dataset_order() {
    let data = dataset(25);
    let mut loader = DataLoader::new(data.len(), 10, 3).with_shuffle(false);
    assert!(!loader.shuffles());
    for _ in 0..2 {
        assert_eq!(
            epoch(&mut loader, &data).concat(),
            (0..25).collect::<Vec<_>>()
        );
    }
}

#[test]
fn drop_last_skips_the_short_batch() {
    let data = dataset(103);
    let mut loader = DataLoader::new(data.len(), 10, 11).with_drop_last(true);
    assert!(loader.drops_last());
    assert_eq!(loader.batches_per_epoch(), 10);
    let mut dropped = Vec::new();
    for _ in 0..3 {
        let batches = epoch(&mut loader, &data);
        assert_eq!(batches.len(), 10);
        assert!(batches.iter().all(|b| b.len() == 10));
        let seen = sorted(batches.concat());
        seen.windows(2)
            .for_each(|w| assert!(w[0] < w[1], "a sample repeated"));
        dropped.push(
            (0..103)
                .filter(|i| seen.binary_search(i).is_err())
                .collect::<Vec<_>>(),
        );
    }
    assert!(dropped.iter().all(|d| d.len() == 3));
    assert_ne!(
        dropped[0], dropped[1],
        "shuffling varies which samples are dropped"
    );

    // A batch larger than the dataset with drop-last yields nothing.
    let mut loader = DataLoader::new(data.len(), 200, 0).with_drop_last(true);
    assert!(epoch(&mut loader, &data).is_empty());
    assert_eq!(loader.epoch(), 1);
}

#[test]
fn stochastic_gradient_descent_is_one_sample_per_batch() {
    let data = dataset(30);
    let mut loader = DataLoader::stochastic(data.len(), 5);
    assert_eq!(loader.batch_size(), 1);
    let batches = epoch(&mut loader, &data);
    assert_eq!(batches.len(), 30);
    assert!(batches.iter().all(|b| b.len() == 1));
    assert_eq!(sorted(batches.concat()), (0..30).collect::<Vec<_>>());
}

#[test]
fn full_batch_gradient_descent_is_the_whole_dataset_each_epoch() {
    let data = dataset(30);
    let mut loader = DataLoader::full_batch(data.len());
    assert_eq!(loader.batch_size(), 30);
    let mut batch = Batch::new();
    for e in 0..2 {
        assert!(loader.next_batch(&data, &mut batch));
        assert_eq!(batch.images(), data.images());
        assert_eq!(batch.labels(), data.labels());
        assert!(!loader.next_batch(&data, &mut batch));
        assert_eq!(loader.epoch(), e + 1);
    }
}

#[test]
fn batch_size_resolves_per_flavour_of_gradient_descent() {
    assert_eq!(BatchSize::Full.resolve(60_000), 60_000);
    assert_eq!(BatchSize::Full.resolve(0), 1);
    assert_eq!(BatchSize::Mini(64).resolve(60_000), 64);
    assert_eq!(BatchSize::Stochastic.resolve(60_000), 1);
    assert_eq!(BatchSize::from(32), BatchSize::Mini(32));
}

#[test]
#[should_panic(expected = "batch size must be at least 1")]
fn zero_batch_size_is_refused() {
    let _ = DataLoader::new(10, 0, 0);
}

#[test]
#[should_panic(expected = "DataLoader was made for 10 samples")]
fn a_dataset_of_another_length_is_refused() {
    let mut loader = DataLoader::new(10, 4, 0);
    loader.next_batch(&dataset(11), &mut Batch::new());
}

#[test]
fn empty_dataset_has_empty_epochs() {
    let data = dataset(0);
    let mut loader = DataLoader::new(0, 4, 0);
    assert_eq!(loader.batches_per_epoch(), 0);
    assert!(epoch(&mut loader, &data).is_empty());
    assert_eq!(loader.epoch(), 1);
}

#[test]
fn next_batch_reuses_the_batch_buffers() {
    let data = dataset(103);
    let mut loader = DataLoader::new(data.len(), 10, 9);
    let mut batch = Batch::with_capacity(10, data.input_size());
    assert!(loader.next_batch(&data, &mut batch));
    let (pixels, labels) = (batch.images().as_ptr(), batch.labels().as_ptr());
    let mut count = 1;
    while loader.next_batch(&data, &mut batch) {
        assert_eq!(batch.images().as_ptr(), pixels, "images buffer reallocated");
        assert_eq!(batch.labels().as_ptr(), labels, "labels buffer reallocated");
        count += 1;
    }
    assert_eq!(count, 11);
}

#[test]
fn batches_iterator_matches_next_batch() {
    let data = dataset(23);
    let mut a = DataLoader::new(data.len(), 5, 4);
    let mut b = DataLoader::new(data.len(), 5, 4);
    for _ in 0..2 {
        let iter = a.batches(&data);
        assert_eq!(iter.len(), 5);
        let from_iter: Vec<Vec<usize>> = iter.map(|batch| batch.indices().to_vec()).collect();
        assert_eq!(from_iter, epoch(&mut b, &data));
    }
    assert_eq!(a.epoch(), 2);
}

/// One observable step of a loader: a batch's indices, or the end of an epoch.
#[derive(Debug, PartialEq)]
enum Step {
    Batch(Vec<usize>),
    EpochEnd(u64),
}

fn steps(loader: &mut DataLoader, data: &Dataset, count: usize) -> Vec<Step> {
    let mut batch = Batch::new();
    (0..count)
        .map(|_| {
            if loader.next_batch(data, &mut batch) {
                Step::Batch(batch.indices().to_vec())
            } else {
                Step::EpochEnd(loader.epoch())
            }
        })
        .collect()
}

fn round_trip(state: &LoaderState) -> LoaderState {
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(state, config).unwrap();
    let (restored, read) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(read, bytes.len());
    restored
}

#[test]
fn resuming_from_a_serialised_state_continues_exactly() {
    let data = dataset(47);
    let configs = [
        DataLoader::new(data.len(), 10, 123),
        DataLoader::new(data.len(), 10, 123).with_drop_last(true),
        DataLoader::new(data.len(), 6, 5).with_shuffle(false),
        DataLoader::stochastic(data.len(), 99),
        DataLoader::full_batch(data.len()),
    ];
    for config in configs {
        let total = 4 * (config.batches_per_epoch() + 1);
        let uninterrupted = steps(&mut config.clone(), &data, total);
        // Cut everywhere: at the start, mid-epoch, after the last batch of an
        // epoch (before the epoch ends), and just after it ends.
        for cut in 0..total {
            let mut first = config.clone();
            let mut run = steps(&mut first, &data, cut);
            let state = round_trip(&first.state());
            assert_eq!(state, first.state());
            drop(first);
            let mut resumed = DataLoader::from_state(state, data.len()).unwrap();
            run.extend(steps(&mut resumed, &data, total - cut));
            assert_eq!(run, uninterrupted, "cut after {cut} steps");
        }
    }
}

#[test]
fn state_reports_progress() {
    let data = dataset(20);
    let mut loader = DataLoader::new(data.len(), 8, 0);
    steps(&mut loader, &data, 5); // 3 batches, epoch end, 1 batch
    let state = loader.state();
    assert_eq!(
        (state.epoch(), state.position(), state.dataset_len()),
        (1, 8, 20)
    );
    assert_eq!((loader.epoch(), loader.position()), (1, 8));
    assert_eq!(loader.remaining_batches(), 2);
}

/// Mirrors `LoaderState`'s serialised form, to forge invalid states.
#[derive(Serialize)]
struct ForgedState {
    dataset_len: usize,
    batch_size: usize,
    shuffle: bool,
    drop_last: bool,
    epoch: u64,
    position: usize,
    epoch_rng: ChaCha8Rng,
}

fn forge(batch_size: usize, position: usize) -> LoaderState {
    let forged = ForgedState {
        dataset_len: 20,
        batch_size,
        shuffle: true,
        drop_last: false,
        epoch: 0,
        position,
        epoch_rng: ChaCha8Rng::seed_from_u64(0),
    };
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&forged, config).unwrap();
    bincode::serde::decode_from_slice(&bytes, config).unwrap().0
}

#[test]
fn invalid_or_mismatched_states_are_refused() {
    assert!(DataLoader::from_state(forge(4, 8), 20).is_ok());
    // A position that is not a multiple of the batch size is still honoured.
    let mut odd = DataLoader::from_state(forge(4, 5), 20).unwrap();
    assert_eq!(odd.remaining_batches(), 4);
    let sizes: Vec<usize> = odd.batches(&dataset(20)).map(|b| b.len()).collect();
    assert_eq!(sizes, [4, 4, 4, 3]);

    let err = DataLoader::from_state(forge(4, 8), 21).unwrap_err();
    assert!(matches!(err, DataError::InvalidLoaderState(_)), "{err:?}");
    assert!(err
        .to_string()
        .contains("saved for a dataset of 20 samples, but this dataset has 21"));

    let err = DataLoader::from_state(forge(0, 0), 20).unwrap_err();
    assert!(err.to_string().contains("batch_size is 0"), "{err}");

    let err = DataLoader::from_state(forge(4, 21), 20).unwrap_err();
    assert!(
        err.to_string().contains("position 21 is past the end"),
        "{err}"
    );
}

#[test]
fn a_fill_writes_into_a_swapped_in_buffer_of_the_right_shape_where_it_is() {
    let data = dataset(10);
    let mut batch = Batch::new();
    batch.fill(&data, &[0, 1, 2]);
    // A tape's buffer, aligned to its liking: the fill must not move it.
    let storage = Array2::from_elem((3, data.input_size()), f32::NAN);
    let address = storage.as_ptr();
    let first = batch.swap_images(storage);
    batch.fill(&data, &[0, 1, 2]);
    assert_eq!(batch.images().as_ptr(), address);
    assert_eq!(batch.images(), first);
    // Another shape still works.
    batch.fill(&data, &[3, 4]);
    assert_eq!(batch.images().dim(), (2, data.input_size()));
}

/// Data-parallel shards: on 1, 2, 3 and 5 ranks, each rank's loader hands
/// out its contiguous slice of exactly the batch one loader would, sizes
/// within one sample of each other (empty when the batch is smaller than
/// the rank count), over two epochs and with drop-last.
#[test]
fn shards_partition_every_batch_of_the_global_order() {
    let data = dataset(23);
    for drop_last in [false, true] {
        let mut whole = DataLoader::new(data.len(), 7, 5).with_drop_last(drop_last);
        // Two epochs of the single loader: the order the shards must cover.
        let expected: Vec<Vec<Vec<usize>>> = (0..2).map(|_| epoch(&mut whole, &data)).collect();
        for ranks in [1, 2, 3, 5] {
            let mut loaders: Vec<DataLoader> = (0..ranks)
                .map(|_| DataLoader::new(data.len(), 7, 5).with_drop_last(drop_last))
                .collect();
            for batches in &expected {
                for global in batches {
                    let mut joined = Vec::new();
                    let mut sizes = Vec::new();
                    for (rank, loader) in loaders.iter_mut().enumerate() {
                        let mut batch = Batch::new();
                        let length = loader.next_shard(&data, &mut batch, Shard::new(rank, ranks));
                        assert_eq!(length, Some(global.len()), "{ranks} ranks, rank {rank}");
                        joined.extend_from_slice(batch.indices());
                        sizes.push(batch.len());
                    }
                    assert_eq!(&joined, global, "{ranks} ranks");
                    let (smallest, largest) = (sizes.iter().min(), sizes.iter().max());
                    assert!(largest.unwrap() - smallest.unwrap() <= 1, "{sizes:?}");
                }
                for loader in &mut loaders {
                    let mut batch = Batch::new();
                    assert_eq!(
                        loader.next_shard(&data, &mut batch, Shard::new(0, ranks)),
                        None
                    );
                    assert_eq!(loader.position(), 0);
                }
            }
        }
    }
    let mut batch = Batch::new();
    let mut loader = DataLoader::new(3, 3, 0);
    // A batch of 3 on 5 ranks: ranks 0 and 2 get nothing.
    assert_eq!(
        loader.next_shard(&dataset(3), &mut batch, Shard::new(0, 5)),
        Some(3)
    );
    assert_eq!(batch.len(), 0);
}

#[test]
#[should_panic(expected = "rank 3 is not below the rank count 3")]
fn a_shard_past_the_rank_count_panics() {
    let _ = Shard::new(3, 3);
}
