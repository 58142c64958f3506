//! burn peer of descent's training-throughput benchmark (issue 8): the W1,
//! W2 and S1 workloads of `benches/pytorch_mlp.py`, `benches/jax_mlp.py` and
//! `examples/throughput.rs`, measured the same way (see
//! `../common/harness.rs`), one JSON line per workload on stdout:
//!
//! ```text
//! cargo build --release --manifest-path benches/peers/burn/Cargo.toml
//! benches/peers/burn/target/release/burn_mlp --threads 1
//! benches/peers/burn/target/release/burn_mlp --backend flex --threads 2
//! benches/peers/burn/target/release/burn_mlp --check 300 --workloads W1
//! ```
//!
//! burn 0.22 with its default features plus `ndarray` and `flex`, on the
//! autodiff device (`Device::ndarray().autodiff()`): burn 0.22's tensors
//! dispatch at run time to the backend of their device (`burn-dispatch`),
//! and autodiff is a property of the device.
//!
//! - `--backend ndarray` (default; the JSON says `"framework":"burn"`):
//!   `burn-ndarray`, the pure-Rust ndarray backend (matmul by the
//!   matrixmultiply crate). burn 0.22 marks it deprecated in favour of flex.
//! - `--backend flex` (`"framework":"burn-flex"`): `burn-flex`, burn's newer
//!   pure-Rust CPU backend (matmul by the gemm crate, SIMD element-wise ops).
//!
//! The model is `burn::nn::Linear` layers (default init U(±1/sqrt(fan_in)),
//! as PyTorch's) with `Relu` between; loss `CrossEntropyLoss` (logits, mean);
//! optimizer `burn::optim::AdamConfig` with beta 0.9/0.999, epsilon 1e-8
//! (burn's default is 1e-5), no weight decay, lr 1e-3 — plain Adam. The data
//! set lives in two device tensors; each step gathers its batch with
//! `select` on a `narrow`ed slice of the epoch's shuffled order, as the
//! PyTorch script does with `index_select`.
//!
//! Threads (`--threads N`, see `harness::limit_threads`): burn-ndarray's
//! parallel loops run on the rayon global pool and its matmul on
//! matrixmultiply's own thread pool, sized by `MATMUL_NUM_THREADS` (default:
//! the physical cores); burn-flex calls gemm with `Parallelism::Rayon(0)`,
//! i.e. the rayon global pool's size. The harness builds the rayon global
//! pool with N threads and sets `MATMUL_NUM_THREADS=N` (and
//! `RAYON_NUM_THREADS=N`) before burn runs anything.

#[path = "../../common/harness.rs"]
mod harness;

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use harness::{Session, TrainSet, Workload};

/// The burn version in Cargo.lock.
const BURN_VERSION: &str = "0.22.1";

#[derive(Module, Debug)]
struct Mlp {
    layers: Vec<Linear>,
    relu: Relu,
}

impl Mlp {
    fn new(sizes: &[usize], device: &Device) -> Self {
        let layers = sizes
            .windows(2)
            .map(|pair| LinearConfig::new(pair[0], pair[1]).init(device))
            .collect();
        Self { layers, relu: Relu::new() }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = self.relu.forward(h);
            }
        }
        h
    }
}

struct BurnSession {
    device: Device,
    images: Tensor<2>,
    labels: Tensor<1, Int>,
    order: Tensor<1, Int>,
    model: Option<Mlp>,
    optimizer: ModuleOptimizer,
    loss_fn: CrossEntropyLoss,
    loss: Option<Tensor<1>>,
}

impl BurnSession {
    fn new(data: &(Tensor<2>, Tensor<1, Int>), device: &Device, workload: &Workload, seed: u64) -> Self {
        device.seed(seed);
        let optimizer = AdamConfig::new()
            .with_beta_1(0.9)
            .with_beta_2(0.999)
            .with_epsilon(1e-8)
            .init();
        Self {
            device: device.clone(),
            images: data.0.clone(),
            labels: data.1.clone(),
            order: Tensor::from_data(TensorData::new(vec![0i64], [1]), device),
            model: Some(Mlp::new(workload.sizes, device)),
            optimizer,
            loss_fn: CrossEntropyLossConfig::new().init(device),
            loss: None,
        }
    }
}

impl Session for BurnSession {
    fn set_order(&mut self, order: &[u32]) {
        let order: Vec<i64> = order.iter().map(|&i| i as i64).collect();
        let n = order.len();
        self.order = Tensor::from_data(TensorData::new(order, [n]), &self.device);
    }

    fn step(&mut self, start: usize, len: usize) {
        let idx = self.order.clone().narrow(0, start, len);
        let x = self.images.clone().select(0, idx.clone());
        let y = self.labels.clone().select(0, idx);
        let model = self.model.take().expect("model");
        let loss = self.loss_fn.forward(model.forward(x), y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optimizer.step(1e-3, model, grads));
        self.loss = Some(loss.detach());
    }

    fn last_loss(&mut self) -> f32 {
        match &self.loss {
            Some(loss) => loss.clone().into_scalar::<f32>(),
            None => f32::NAN,
        }
    }
}

fn main() -> Result<(), String> {
    let args = harness::Args::parse(&["ndarray", "flex"])?;
    let cpus = harness::limit_threads(args.threads, args.pin)?;
    let TrainSet { images, labels, len, input_size } = harness::load_train(&args)?;
    let (framework, device) = match args.backend.as_str() {
        "flex" => ("burn-flex", Device::flex().autodiff()),
        // Deprecated in burn 0.22 (in favour of flex), but the required baseline here.
        #[allow(deprecated)]
        _ => ("burn", Device::ndarray().autodiff()),
    };
    let labels: Vec<i64> = labels.into_iter().map(i64::from).collect();
    let data = (
        Tensor::<2>::from_data(TensorData::new(images, [len, input_size]), &device),
        Tensor::<1, Int>::from_data(TensorData::new(labels, [len]), &device),
    );
    eprintln!(
        "burn {BURN_VERSION} ({}): threads={} (rayon {}) cpus={cpus:?} device={device:?} data={:?}",
        args.backend,
        args.threads,
        rayon::current_num_threads(),
        data.0.dims()
    );
    let details = format!("\"version\":\"{BURN_VERSION}\",\"backend\":\"{}\",\"adam\":\"Adam\",", args.backend);
    harness::run(&args, framework, &details, len, |workload, seed| {
        Box::new(BurnSession::new(&data, &device, workload, seed))
    });
    Ok(())
}
