//! Reading a saved [`ChaCha8Rng`] without losing its position.
//!
//! rand_chacha deserialises a generator's word position (a `u128`) into a
//! 68-bit counter and drops the upper bits without a word, so a damaged file
//! claiming position 2^100 loads as position 0 and replays numbers already
//! drawn. [`deserialize`] reads the same fields (the same bytes in any serde
//! format, so files are unchanged) and refuses a position the generator
//! cannot hold; use it with `#[serde(deserialize_with = ...)]` on every saved
//! generator.

use rand_chacha::ChaCha8Rng;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// The first word position a [`ChaCha8Rng`] cannot represent: its block
/// counter is 64 bits, of 16 words each.
pub const WORD_POSITION_LIMIT: u128 = 1 << 68;

/// rand_chacha's serialised form of a generator (its `abstract` module,
/// which it documents as covered by semver): the same fields, in the same
/// order, so that this reads exactly the bytes `ChaCha8Rng` writes.
#[derive(Deserialize)]
#[serde(rename = "ChaCha8Rng")]
struct SavedGenerator {
    seed: [u8; 32],
    stream: u64,
    word_pos: u128,
}

/// Deserialises a [`ChaCha8Rng`], refusing a word position of 2^68 or more
/// with an error naming `word_pos`, where rand_chacha would silently wrap it.
///
/// # Errors
/// The deserializer's own errors, and the out-of-range position.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ChaCha8Rng, D::Error> {
    let saved = SavedGenerator::deserialize(deserializer)?;
    check_word_position(saved.word_pos).map_err(D::Error::custom)?;
    let mut generator = <ChaCha8Rng as rand::SeedableRng>::from_seed(saved.seed);
    generator.set_stream(saved.stream);
    generator.set_word_pos(saved.word_pos);
    Ok(generator)
}

/// `Ok` if a generator can be at `word_pos`, else a message naming the field.
pub fn check_word_position(word_pos: u128) -> Result<(), String> {
    if word_pos < WORD_POSITION_LIMIT {
        Ok(())
    } else {
        Err(format!(
            "generator word_pos = {word_pos} is beyond the generator's period (2^68 words)"
        ))
    }
}
