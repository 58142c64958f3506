//! The same seed gives bit-identical weights whatever the number of threads:
//! elementwise work is split by position, matrix products by shape only, and
//! reductions run in a fixed order. The tests also run at every lower CPU
//! level this machine has (`DESCENT_CPU`), each in a child process.

use descent::data::{DataLoader, Mnist};
use descent::nn::Module;
use descent::optim::Adam;
use descent::training::{mlp, train_epoch, Workspace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist");

/// The bits of every weight after one epoch over the first `samples` training
/// images, for hidden widths `hidden` and `batch_size`.
fn weights_after_an_epoch(
    hidden: &[usize],
    batch_size: usize,
    samples: usize,
    threads: usize,
) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let Mnist { train, .. } = Mnist::load(DATA).unwrap();
        let train = train.take(samples);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let model = mlp(train.input_size(), hidden, train.num_classes(), &mut rng);
        let parameters = model.parameters();
        let mut optimizer = Adam::new(1e-3);
        let mut loader = DataLoader::new(train.len(), batch_size, 11);
        let mut workspace = Workspace::default();
        let report = train_epoch(
            &model,
            &parameters,
            &mut optimizer,
            &mut loader,
            &train,
            &mut workspace,
            |_| true,
        );
        assert_eq!(report.samples, samples);
        parameters
            .iter()
            .flat_map(|(_, p)| p.value().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect()
    })
}

#[test]
fn a_w1_epoch_gives_the_same_bits_on_one_and_two_threads() {
    let one = weights_after_an_epoch(&[128], 64, 60_000, 1);
    let two = weights_after_an_epoch(&[128], 64, 60_000, 2);
    assert_eq!(one.len(), 784 * 128 + 128 + 128 * 10 + 10);
    let differing = one.iter().zip(&two).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 0, "{differing} weights differ");
}

#[test]
fn w2_steps_give_the_same_bits_on_one_and_two_threads() {
    // W2's products are large enough to be split across threads; 40 steps.
    let one = weights_after_an_epoch(&[512, 512], 256, 10_240, 1);
    let two = weights_after_an_epoch(&[512, 512], 256, 10_240, 2);
    assert!(one == two, "weights differ between 1 and 2 threads");
}

#[test]
fn cnn_steps_give_the_same_bits_on_one_and_two_threads() {
    // PyTorch's MNIST network (convolutions split by chunks of images,
    // max-pooling by planes, dropout masks from the layers' generators):
    // 5 steps of batch 64.
    let run = |threads: usize| -> Vec<u32> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let train = Mnist::load(DATA).unwrap().train.take(320);
            let model = descent::training::mnist_cnn(10, &mut ChaCha8Rng::seed_from_u64(11));
            let parameters = model.parameters();
            let mut optimizer = Adam::new(1e-3);
            let mut loader = DataLoader::new(train.len(), 64, 11);
            let mut workspace = Workspace::default();
            let report = train_epoch(
                &model,
                &parameters,
                &mut optimizer,
                &mut loader,
                &train,
                &mut workspace,
                |_| true,
            );
            assert_eq!(report.samples, 320);
            parameters
                .iter()
                .flat_map(|(_, p)| p.value().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                .collect()
        })
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.len(), 1_199_882);
    let differing = one.iter().zip(&two).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 0, "{differing} weights differ");
}

/// Runs this file's other tests again in a child process for each CPU level
/// below this machine's (`DESCENT_CPU=avx2`, `baseline`), so that every code
/// path the machine can run keeps its results independent of the threads.
#[test]
fn every_lower_cpu_level_gives_the_same_bits_on_one_and_two_threads() {
    use descent::autograd::cpu::{detected_level, CpuLevel, CPU_LEVEL_VARIABLE};
    if std::env::var_os(CPU_LEVEL_VARIABLE).is_some() {
        // A child, or a run already forced to a level.
        return;
    }
    for level in [CpuLevel::Baseline, CpuLevel::Avx2] {
        if level >= detected_level() {
            continue;
        }
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .env(CPU_LEVEL_VARIABLE, level.name())
            // This module's tests only: the others in the binary are not
            // about threads.
            .arg(crate::test_name(module_path!(), ""))
            .args(["--skip", "every_lower_cpu_level"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{CPU_LEVEL_VARIABLE}={level}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
