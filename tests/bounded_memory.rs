//! Loading a file takes memory in proportion to what its header declares and
//! the checks confirm, never to the raw size of the input: a 1 GiB junk file
//! and a gzip bomb fail after a few kilobytes.
//!
//! This test binary counts the bytes each thread allocates through a
//! wrapping global allocator, so tests running side by side do not disturb
//! each other's figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs::{self, File};
use std::io::Write;

use descent::checkpoint::{Checkpoint, CheckpointError, FORMAT_VERSION, MAGIC};
use descent::data::{encode_idx, DataError, Dataset};

struct CountingAllocator;

thread_local! {
    /// Bytes this thread has allocated and not freed (it may go negative
    /// when it frees another thread's memory).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The most `LIVE` has been since the last [`peak_during`] began.
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(change: isize) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + change);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Runs `f` and returns its result with the most memory this thread held
/// during it beyond what it held before, in bytes.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let result = f();
    let peak = PEAK.with(Cell::get);
    (result, (peak - start).max(0) as usize)
}

/// What loading the hostile files below may allocate: a header, a file
/// handle, an error message, a decompressor's window and buffers.
const SMALL: usize = 1 << 20;

const GIB: u64 = 1 << 30;

/// A checkpoint header declaring `payload_len` bytes of payload.
fn header(payload_len: u64) -> Vec<u8> {
    let mut header = MAGIC.to_vec();
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&payload_len.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header
}

/// A sparse file of `len` bytes starting with `start`: no disk space, but
/// reading it all would cost `len` bytes of memory.
fn sparse_file(path: &std::path::Path, start: &[u8], len: u64) {
    let mut file = File::create(path).unwrap();
    file.write_all(start).unwrap();
    file.set_len(len).unwrap();
}

#[test]
fn a_huge_junk_file_fails_to_load_after_reading_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.ckpt");

    // Zeros: not a checkpoint.
    sparse_file(&path, b"", GIB);
    let (result, peak) = peak_during(|| Checkpoint::load(&path));
    let error = result.unwrap_err();
    assert!(matches!(error, CheckpointError::BadMagic { .. }), "{error}");
    assert!(peak < SMALL, "{peak} bytes to refuse 1 GiB of zeros");

    // A real header declaring a small payload, then 1 GiB: trailing bytes.
    sparse_file(&path, &header(100), GIB);
    let (result, peak) = peak_during(|| Checkpoint::load(&path));
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            CheckpointError::TrailingBytes {
                expected: 124,
                found: GIB
            }
        ),
        "{error}"
    );
    assert!(
        peak < SMALL,
        "{peak} bytes to refuse a 124-byte header on 1 GiB"
    );

    // A header declaring more than the file holds: truncated.
    sparse_file(&path, &header(4 * GIB), GIB);
    let (result, peak) = peak_during(|| Checkpoint::load(&path));
    let error = result.unwrap_err();
    assert!(
        matches!(error, CheckpointError::Truncated { found: GIB, .. }),
        "{error}"
    );
    assert!(
        peak < SMALL,
        "{peak} bytes to refuse a truncated 1 GiB file"
    );
}

/// `members` gzip members of 1 MiB of zeros each, the first preceded by
/// `start`: a compressed file of about a kilobyte per member that
/// decompresses to `members` MiB.
fn gzip_bomb(start: &[u8], members: usize) -> Vec<u8> {
    let gzip = |bytes: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    let zeros = vec![0u8; 1 << 20];
    let mut first = start.to_vec();
    first.extend_from_slice(&zeros);
    let mut bomb = gzip(&first);
    let member = gzip(&zeros);
    for _ in 1..members {
        bomb.extend_from_slice(&member);
    }
    bomb
}

#[test]
fn a_gzip_bomb_beside_a_smaller_label_file_fails_before_it_is_decompressed() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("train-images-idx3-ubyte.gz");
    let labels = dir.path().join("train-labels-idx1-ubyte");
    // A header claiming 4,000,000 images of 28x28, and 1 GiB of zeros in
    // about 1 MB of gzip.
    let mut image_header = vec![0, 0, 0x08, 3];
    for dim in [4_000_000u32, 28, 28] {
        image_header.extend_from_slice(&dim.to_be_bytes());
    }
    let bomb = gzip_bomb(&image_header, 1024);
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    fs::write(&images, &bomb).unwrap();
    fs::write(&labels, encode_idx(&[60_000], &vec![3; 60_000]).unwrap()).unwrap();

    let (result, peak) = peak_during(|| Dataset::from_idx_files(&images, &labels, 10));
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            DataError::CountMismatch {
                images: 4_000_000,
                labels: 60_000,
                ..
            }
        ),
        "{error}"
    );
    assert!(peak < SMALL, "{peak} bytes to refuse a gzip bomb");
}

#[test]
fn decompression_stops_soon_after_the_size_the_header_declares() {
    // Ten labels, then 1 GiB more inside the same gzip stream.
    let mut start = vec![0, 0, 0x08, 1];
    start.extend_from_slice(&10u32.to_be_bytes());
    start.extend_from_slice(&[1; 10]);
    let bomb = gzip_bomb(&start, 1024);
    let (result, peak) = peak_during(|| descent::data::read_idx_from(&bomb[..], "bomb.gz", 1));
    let error = result.unwrap_err();
    let &DataError::TrailingBytes {
        count, counted_all, ..
    } = &error
    else {
        panic!("{error}");
    };
    // Counted to 1 MiB past the data, not to the end of the bomb.
    assert_eq!((count, counted_all), (1 + (1 << 20), false));
    assert!(
        error.to_string().contains("at least 1048577 unexpected"),
        "{error}"
    );
    assert!(peak < SMALL, "{peak} bytes");
}
