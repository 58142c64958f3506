//! The file framing: magic number, format version, payload length and CRC32
//! around a bincode payload.
//!
//! ```text
//! offset  size  field
//!      0     8  magic, b"DESCENT\0"
//!      8     4  format version, u32 little-endian (currently 2)
//!     12     8  payload length in bytes, u64 little-endian
//!     20     4  CRC32 (IEEE, as zlib and PNG) of the payload, u32 little-endian
//!     24     n  payload: the checkpoint, serde + bincode 2 `config::standard()`
//! ```
//!
//! Every field is checked before the payload is decoded, in file order, so
//! that the error names the first thing that is wrong: a foreign file fails
//! on the magic, a file from a newer descent on the version, an interrupted
//! copy on the length, bit rot on the checksum. A file is read only after
//! its header has been checked against its size.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{io_error, CheckpointError};

/// The first eight bytes of every checkpoint file.
pub const MAGIC: [u8; 8] = *b"DESCENT\0";

/// The format version this build writes and the only one it reads.
///
/// It changes whenever the framing or the layout of the payload changes,
/// including the layout of the optimizer, schedule and loader state embedded
/// in it, since bincode is not self-describing.
///
/// Version 2 added, at the end of the payload, the model description and
/// the trainer's state; version 1 files are refused with
/// [`CheckpointError::UnsupportedVersion`].
pub const FORMAT_VERSION: u32 = 2;

/// The size of the header that precedes the payload, in bytes.
pub const HEADER_LEN: usize = 24;

const VERSION_AT: usize = 8;
const LENGTH_AT: usize = 12;
const CHECKSUM_AT: usize = 20;

/// The header for `payload`.
pub(crate) fn header_for(payload: &[u8]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..VERSION_AT].copy_from_slice(&MAGIC);
    header[VERSION_AT..LENGTH_AT].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[LENGTH_AT..CHECKSUM_AT].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    header[CHECKSUM_AT..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    header
}

/// The payload of a framed file, after checking magic, version, length and
/// checksum.
pub(crate) fn unframe(bytes: &[u8]) -> Result<&[u8], CheckpointError> {
    let found = bytes.len() as u64;
    let (payload_len, stored) = check_header(bytes, found)?;
    let expected = payload_len.saturating_add(HEADER_LEN as u64);
    check_length(expected, found)?;
    let payload = &bytes[HEADER_LEN..];
    let computed = crc32fast::hash(payload);
    if computed != stored {
        return Err(CheckpointError::ChecksumMismatch { stored, computed });
    }
    Ok(payload)
}

/// Checks the magic and the version at the start of `header` (the first
/// bytes of a file of `found` bytes), then returns the payload length and
/// CRC32 the header declares.
fn check_header(header: &[u8], found: u64) -> Result<(u64, u32), CheckpointError> {
    let truncated = || CheckpointError::Truncated {
        expected: HEADER_LEN as u64,
        found,
    };
    let magic_len = MAGIC.len().min(header.len());
    if header[..magic_len] != MAGIC[..magic_len] {
        return Err(CheckpointError::BadMagic {
            expected: MAGIC,
            found: header[..magic_len].to_vec(),
        });
    }
    // The version is checked before the rest of the header is even read: a
    // future version may lay its header out differently.
    let Some(version) = header.get(VERSION_AT..LENGTH_AT) else {
        return Err(truncated());
    };
    let version = u32::from_le_bytes(version.try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(CheckpointError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let Some(header) = header.get(..HEADER_LEN) else {
        return Err(truncated());
    };
    let payload_len =
        u64::from_le_bytes(header[LENGTH_AT..CHECKSUM_AT].try_into().expect("8 bytes"));
    let stored = u32::from_le_bytes(header[CHECKSUM_AT..].try_into().expect("4 bytes"));
    Ok((payload_len, stored))
}

/// Compares the file size the header declares with the real one. The
/// declared length is only ever compared, never used to size an allocation
/// before this check.
fn check_length(expected: u64, found: u64) -> Result<(), CheckpointError> {
    if expected > found {
        return Err(CheckpointError::Truncated { expected, found });
    }
    if expected < found {
        return Err(CheckpointError::TrailingBytes { expected, found });
    }
    Ok(())
}

/// The bytes of the checkpoint file at `path`, read only once its header has
/// been checked against its size: a junk or foreign file of any size costs
/// one 24-byte read, and memory never exceeds the size the header declares.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    let read_error = || io_error("read", path);
    let mut file = File::open(path).map_err(read_error())?;
    let metadata = file.metadata().map_err(read_error())?;
    let mut header = [0u8; HEADER_LEN];
    let header_read = read_up_to(&mut file, &mut header).map_err(read_error())?;
    // A regular file's size is known; a pipe's is not, so it is read up to
    // the declared length and judged by what arrived.
    let size = if metadata.is_file() {
        metadata.len()
    } else {
        header_read as u64
    };
    let (payload_len, _) = check_header(&header[..header_read], size)?;
    let expected = payload_len.saturating_add(HEADER_LEN as u64);
    if metadata.is_file() {
        check_length(expected, size)?;
    }

    // A pipe's declared length is still unchecked: grow as bytes arrive.
    let reserve = if metadata.is_file() {
        expected
    } else {
        expected.min(1 << 20)
    };
    let mut bytes = Vec::new();
    usize::try_from(reserve)
        .ok()
        .and_then(|reserve| bytes.try_reserve_exact(reserve).ok())
        .ok_or_else(|| {
            read_error()(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("no memory for a checkpoint of {expected} bytes"),
            ))
        })?;
    bytes.extend_from_slice(&header);
    // One byte past the declared end tells a file that grew while being
    // read; `unframe` reports it.
    file.take(payload_len.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read_error())?;
    Ok(bytes)
}

/// Reads until `buffer` is full or the file ends; returns the count.
fn read_up_to(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Encodes `value` with bincode 2's standard configuration.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CheckpointError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|error| CheckpointError::Encode(error.to_string()))
}

/// Decodes a `T` that must fill `payload` exactly.
///
/// bincode reads a string's length and allocates that many bytes before it
/// reads them; its byte limit is what stops a corrupt length from asking for
/// exabytes. The limit is a compile-time constant, so the smallest of a few
/// limits that still admits the whole payload is picked: no allocation can
/// exceed 16 times the payload's size (and 1 MiB for small payloads).
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, CheckpointError> {
    macro_rules! decode_within {
        ($($bits:literal),*) => {{
            let needed = payload.len() as u64;
            $(
                if needed <= 1u64 << $bits {
                    const LIMIT: usize = 1usize << $bits;
                    let config = bincode::config::standard().with_limit::<LIMIT>();
                    return finish(bincode::serde::decode_from_slice(payload, config), payload);
                }
            )*
            let config = bincode::config::standard();
            finish(bincode::serde::decode_from_slice(payload, config), payload)
        }};
    }
    decode_within!(20, 24, 28, 32, 36, 40)
}

fn finish<T>(
    decoded: Result<(T, usize), bincode::error::DecodeError>,
    payload: &[u8],
) -> Result<T, CheckpointError> {
    let (value, read) = decoded.map_err(|error| CheckpointError::Decode {
        message: error.to_string(),
        written_by: written_by(payload),
    })?;
    if read != payload.len() {
        return Err(CheckpointError::Decode {
            message: format!(
                "the payload has {} bytes but the checkpoint ends after {read}",
                payload.len()
            ),
            written_by: written_by(payload),
        });
    }
    Ok(value)
}

/// The descent version recorded at the front of a payload that failed to
/// decode, if that much can be read: it tells a user whether the file comes
/// from an incompatible build or is damaged.
fn written_by(payload: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Leading {
        _format_version: u32,
        descent_version: String,
    }
    let config = bincode::config::standard().with_limit::<{ 1 << 16 }>();
    let (leading, _): (Leading, usize) = bincode::serde::decode_from_slice(payload, config).ok()?;
    let plausible = !leading.descent_version.is_empty()
        && leading.descent_version.len() <= 64
        && leading
            .descent_version
            .chars()
            .all(|c| c.is_ascii_graphic());
    plausible.then_some(leading.descent_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut bytes = header_for(payload).to_vec();
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn round_trips_and_checks_every_header_field() {
        let bytes = framed(b"payload");
        assert_eq!(unframe(&bytes).unwrap(), b"payload");
        assert_eq!(&bytes[..8], b"DESCENT\0");

        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert!(matches!(
            unframe(&magic),
            Err(CheckpointError::BadMagic { .. })
        ));

        let mut version = bytes.clone();
        version[VERSION_AT] = 1;
        assert!(matches!(
            unframe(&version),
            Err(CheckpointError::UnsupportedVersion {
                found: 1,
                supported: 2
            })
        ));

        let mut checksum = bytes.clone();
        checksum[HEADER_LEN] ^= 1;
        assert!(matches!(
            unframe(&checksum),
            Err(CheckpointError::ChecksumMismatch { .. })
        ));

        assert!(matches!(
            unframe(&bytes[..bytes.len() - 1]),
            Err(CheckpointError::Truncated {
                expected: 31,
                found: 30
            })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            unframe(&longer),
            Err(CheckpointError::TrailingBytes {
                expected: 31,
                found: 32
            })
        ));
    }

    #[test]
    fn short_files_are_truncated_or_foreign() {
        assert!(matches!(
            unframe(b""),
            Err(CheckpointError::Truncated { .. })
        ));
        assert!(matches!(
            unframe(b"DESC"),
            Err(CheckpointError::Truncated { .. })
        ));
        assert!(matches!(
            unframe(b"PK\x03\x04"),
            Err(CheckpointError::BadMagic { .. })
        ));
        let header = header_for(b"");
        assert!(matches!(
            unframe(&header[..HEADER_LEN - 1]),
            Err(CheckpointError::Truncated { expected: 24, .. })
        ));
    }

    #[test]
    fn a_huge_declared_length_is_compared_not_allocated() {
        let mut bytes = framed(b"abc");
        bytes[LENGTH_AT..CHECKSUM_AT].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            unframe(&bytes),
            Err(CheckpointError::Truncated {
                expected: u64::MAX,
                found: 27
            })
        ));
    }

    #[test]
    fn a_huge_string_length_inside_the_payload_is_refused() {
        // A bincode varint: 0xfd announces a u64, here 2^62.
        let mut payload = vec![0xfd];
        payload.extend_from_slice(&(1u64 << 62).to_le_bytes());
        let error = decode::<String>(&payload).unwrap_err();
        assert!(matches!(error, CheckpointError::Decode { .. }), "{error}");
    }
}
