//! candle peer of descent's training-throughput benchmark (issue 8): the W1,
//! W2 and S1 workloads of `benches/pytorch_mlp.py`, `benches/jax_mlp.py` and
//! `examples/throughput.rs`, measured the same way (see
//! `../common/harness.rs`), one JSON line per workload on stdout:
//!
//! ```text
//! cargo build --release --manifest-path benches/peers/candle/Cargo.toml
//! benches/peers/candle/target/release/candle_mlp --threads 1
//! benches/peers/candle/target/release/candle_mlp --check 300 --workloads W1
//! ```
//!
//! The model is two or three `candle_nn::Linear` layers with ReLU between,
//! initialised as PyTorch's `nn.Linear` (weights and biases U(±1/sqrt(fan_in)),
//! weights stored [out, in]; drawn here from a seeded ChaCha8 because
//! candle's CPU RNG cannot be seeded). Loss: `candle_nn::loss::cross_entropy`
//! (log-softmax + NLL, mean). The data set lives in two candle tensors
//! (`[60000, 784]` f32 and `[60000]` u32 labels); each step gathers its
//! batch with `index_select` on a `narrow`ed slice of the epoch's shuffled
//! order, as the PyTorch script does with `index_select`.
//!
//! Optimizer: candle-nn 0.11.1 has no plain Adam, only `SGD` and `AdamW`, so
//! this is `candle_nn::AdamW` with `weight_decay: 0.0`, lr 1e-3, betas
//! 0.9/0.999, eps 1e-8, which is Adam exactly (AdamW's decoupled decay step
//! `theta * (1 - lr * weight_decay)` becomes a multiplication by 1.0 — one
//! extra element-wise op per parameter that candle still performs).
//!
//! Threads (`--threads N`, see `harness::limit_threads`): candle's matmul is
//! the `gemm` crate, called with `Parallelism::Rayon(n)` where n is
//! `RAYON_NUM_THREADS` (default: the physical cores) and run on the rayon
//! global pool; large element-wise ops (≥ 64K elements) run on candle's own
//! barrier pool of `CANDLE_NUM_THREADS` − 1 workers. The harness sets both
//! variables to N and builds the rayon global pool with N threads before
//! candle runs anything. CPU only: no mkl/accelerate/cuda/metal features.

#[path = "../../common/harness.rs"]
mod harness;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW};
use harness::{Session, TrainSet, Workload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The candle-core / candle-nn version in Cargo.lock.
const CANDLE_VERSION: &str = "0.11.1";

struct CandleSession {
    images: Tensor,
    labels: Tensor,
    order: Tensor,
    layers: Vec<Linear>,
    optimizer: AdamW,
    loss: Option<Tensor>,
}

impl CandleSession {
    fn new(data: &(Tensor, Tensor), workload: &Workload, seed: u64) -> candle_core::Result<Self> {
        let device = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut vars = Vec::new();
        let mut layers = Vec::new();
        for pair in workload.sizes.windows(2) {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let bound = 1.0 / (fan_in as f32).sqrt();
            let mut uniform = |n: usize| -> Vec<f32> {
                (0..n).map(|_| rng.random_range(-bound..bound)).collect()
            };
            let w = Var::from_tensor(&Tensor::from_vec(uniform(fan_out * fan_in), (fan_out, fan_in), &device)?)?;
            let b = Var::from_tensor(&Tensor::from_vec(uniform(fan_out), fan_out, &device)?)?;
            layers.push(Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone())));
            vars.push(w);
            vars.push(b);
        }
        // Plain Adam: AdamW with weight decay 0 (candle-nn has no Adam).
        let optimizer = AdamW::new(
            vars,
            ParamsAdamW { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 },
        )?;
        Ok(Self {
            images: data.0.clone(),
            labels: data.1.clone(),
            order: Tensor::zeros(1, DType::U32, &device)?,
            layers,
            optimizer,
            loss: None,
        })
    }

    fn try_step(&mut self, start: usize, len: usize) -> candle_core::Result<()> {
        let idx = self.order.narrow(0, start, len)?;
        let x = self.images.index_select(&idx, 0)?;
        let y = self.labels.index_select(&idx, 0)?;
        let last = self.layers.len() - 1;
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i < last {
                h = h.relu()?;
            }
        }
        let loss = candle_nn::loss::cross_entropy(&h, &y)?;
        self.optimizer.backward_step(&loss)?;
        self.loss = Some(loss);
        Ok(())
    }
}

impl Session for CandleSession {
    fn set_order(&mut self, order: &[u32]) {
        self.order = Tensor::from_slice(order, order.len(), &Device::Cpu).expect("order tensor");
    }

    fn step(&mut self, start: usize, len: usize) {
        self.try_step(start, len).expect("candle training step");
    }

    fn last_loss(&mut self) -> f32 {
        match &self.loss {
            Some(loss) => loss.to_scalar::<f32>().expect("loss"),
            None => f32::NAN,
        }
    }
}

fn main() -> Result<(), String> {
    let args = harness::Args::parse(&[])?;
    let cpus = harness::limit_threads(args.threads, args.pin)?;
    let TrainSet { images, labels, len, input_size } = harness::load_train(&args)?;
    let e = |e: candle_core::Error| e.to_string();
    let data = (
        Tensor::from_vec(images, (len, input_size), &Device::Cpu).map_err(e)?,
        Tensor::from_vec(labels, len, &Device::Cpu).map_err(e)?,
    );
    eprintln!(
        "candle {CANDLE_VERSION}: threads={} (rayon {}, gemm {}) cpus={cpus:?} data={:?}",
        args.threads,
        rayon::current_num_threads(),
        candle_core::utils::get_num_threads(),
        data.0.dims()
    );
    let details = format!("\"version\":\"{CANDLE_VERSION}\",\"adam\":\"AdamW(weight_decay=0)\",");
    harness::run(&args, "candle", &details, len, |workload, seed| {
        Box::new(CandleSession::new(&data, workload, seed).expect("candle model"))
    });
    Ok(())
}
