//! A mirror of the checkpoint payload's types, field for field (bincode is
//! positional), so that tests can decode a real checkpoint, change any field,
//! private ones included, and encode it again under a valid header and CRC.
//! `tests/checkpoint_structure_fuzz.rs` checks that the mirror re-encodes
//! real checkpoints byte for byte, so it cannot drift unnoticed.

use descent::checkpoint::{
    Metadata, ModelSpec, NamedTensor, Progress, FORMAT_VERSION, HEADER_LEN, MAGIC,
};
use descent::optim::{LrSchedule, OptimizerState, PlateauMode, ThresholdMode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    pub metadata: Metadata,
    pub model: Vec<NamedTensor>,
    pub generators: Vec<RawNamedGenerator>,
    pub optimizer: Option<OptimizerState>,
    pub schedule: Option<RawSchedule>,
    pub progress: Progress,
    pub loader: Option<RawLoader>,
    pub spec: ModelSpec,
    pub trainer: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawNamedGenerator {
    pub name: String,
    pub state: RawGenerator,
}

/// rand_chacha's serialised generator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawGenerator {
    pub seed: [u8; 32],
    pub stream: u64,
    pub word_pos: u128,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RawSchedule {
    Epochs(RawScheduler),
    Plateau(RawPlateau),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawScheduler {
    pub plan: RawPlan,
    pub last_lr: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RawPlan {
    Single(RawRun),
    Chained(Vec<RawRun>),
    Sequential {
        runs: Vec<RawRun>,
        milestones: Vec<usize>,
        last_epoch: i64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawRun {
    pub schedule: LrSchedule,
    pub progress: RawScheduleProgress,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawScheduleProgress {
    pub base_lr: f64,
    pub last_epoch: i64,
    pub step_count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawPlateau {
    pub mode: PlateauMode,
    pub factor: f64,
    pub patience: u64,
    pub threshold: f64,
    pub threshold_mode: ThresholdMode,
    pub cooldown: u64,
    pub min_lr: f64,
    pub eps: f64,
    pub best: f64,
    pub num_bad_epochs: u64,
    pub cooldown_counter: u64,
    pub last_epoch: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawLoader {
    pub dataset_len: usize,
    pub batch_size: usize,
    pub shuffle: bool,
    pub drop_last: bool,
    pub epoch: u64,
    pub position: usize,
    pub epoch_rng: RawGenerator,
}

pub fn decode(bytes: &[u8]) -> Payload {
    let (payload, read) =
        bincode::serde::decode_from_slice(&bytes[HEADER_LEN..], bincode::config::standard())
            .expect("a base checkpoint decodes into the mirror");
    assert_eq!(read, bytes.len() - HEADER_LEN);
    payload
}

/// The file for `payload`: header with magic, version, length and CRC32.
pub fn encode(payload: &Payload) -> Vec<u8> {
    let body = bincode::serde::encode_to_vec(payload, bincode::config::standard()).unwrap();
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    bytes
}
