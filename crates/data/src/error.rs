//! The one error type of this crate.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while reading, writing or validating data.
///
/// Every variant names where the problem is (a path, or the label given to
/// [`read_idx_from`](crate::read_idx_from); a byte offset or field) and, where
/// it applies, what was expected and what was found. Byte offsets in gzipped
/// files count bytes of the decompressed stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system reported.
        source: io::Error,
    },

    /// The file starts like a gzip stream (0x1f 0x8b) but does not decompress.
    #[error("cannot decompress gzip file {}: {source}", path.display())]
    Gzip {
        /// The file.
        path: PathBuf,
        /// What the decompressor reported.
        source: io::Error,
    },

    /// The file could not be created or written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the operating system reported.
        source: io::Error,
    },

    /// The first two bytes are not the zero bytes every IDX file starts with.
    #[error(
        "{}: not an IDX file: bytes 0-1 are 0x{:02x} 0x{:02x}, expected 0x00 0x00",
        path.display(), found[0], found[1]
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first two bytes of the (decompressed) file.
        found: [u8; 2],
    },

    /// The element type code (byte 2) is not 0x08, unsigned byte.
    #[error(
        "{}: unsupported IDX element type 0x{found:02x} ({}) at byte 2; only 0x08 (unsigned byte) is supported",
        path.display(), idx_type_name(*found)
    )]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The type code found at byte 2.
        found: u8,
    },

    /// The number of dimensions (byte 3) is not what the caller expects
    /// (1 for labels, 3 for images).
    #[error(
        "{}: expected an IDX file with {expected} dimension(s), found {found} (byte 3)",
        path.display()
    )]
    WrongDimensionCount {
        /// The file.
        path: PathBuf,
        /// How many dimensions the caller asked for.
        expected: usize,
        /// How many the file declares.
        found: u8,
    },

    /// The file ends inside the header.
    #[error(
        "{}: file ends inside the IDX header: {field} at byte {offset} needs 4 bytes, found {found}",
        path.display()
    )]
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// The header field being read, e.g. "magic number" or "size of dimension 1".
        field: String,
        /// Where that field starts.
        offset: u64,
        /// How many bytes of the field the file has.
        found: u64,
    },

    /// The product of the dimensions cannot be held in memory on this machine.
    #[error(
        "{}: IDX dimensions {dims:?} describe more elements than this machine can address",
        path.display()
    )]
    DimensionsTooLarge {
        /// The file.
        path: PathBuf,
        /// The dimensions the header declares.
        dims: Vec<u32>,
    },

    /// The file ends before the data its header announces.
    #[error(
        "{}: truncated IDX data: dimensions {dims:?} need {expected} data bytes after the {header_len}-byte header, found {found} (file ends at byte {})",
        path.display(), header_len + found
    )]
    TruncatedData {
        /// The file.
        path: PathBuf,
        /// The dimensions the header declares.
        dims: Vec<usize>,
        /// Length of the header, where the data starts.
        header_len: u64,
        /// Data bytes the dimensions call for.
        expected: u64,
        /// Data bytes present.
        found: u64,
    },

    /// The file goes on after the data its header announces.
    #[error(
        "{}: {}{count} unexpected trailing byte(s) from byte {offset}: dimensions {dims:?} describe {expected} data bytes",
        path.display(), if *counted_all { "" } else { "at least " }
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// The dimensions the header declares.
        dims: Vec<usize>,
        /// Where the expected data ends and the surplus starts.
        offset: u64,
        /// Data bytes the dimensions call for.
        expected: u64,
        /// How many surplus bytes follow (a lower bound unless `counted_all`).
        count: u64,
        /// Whether `count` is all of them: counting stops 1 MiB past the
        /// data, so as not to decompress all of a gzip bomb.
        counted_all: bool,
    },

    /// Data handed to [`write_idx`](crate::write_idx) or
    /// [`encode_idx`](crate::encode_idx) does not fit the dimensions, or the
    /// dimensions cannot be expressed in IDX.
    #[error("cannot encode IDX with dimensions {dims:?} and {data_len} data bytes: {reason}")]
    UnencodableIdx {
        /// The dimensions given.
        dims: Vec<usize>,
        /// The number of data bytes given.
        data_len: usize,
        /// Why it cannot be encoded.
        reason: String,
    },

    /// The directory given to [`Mnist::load`](crate::Mnist::load) does not exist.
    #[error(
        "MNIST data directory {} does not exist or is not a directory; create it and put the four IDX files \
         (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, \
         each optionally gzipped as .gz) in it",
        path.display()
    )]
    MissingDirectory {
        /// The directory.
        path: PathBuf,
    },

    /// One of the four MNIST files is not in the directory under any accepted name.
    #[error(
        "{}: no {file} file; looked for {}. Put the MNIST-format IDX file there (gzipped or not)",
        dir.display(), tried.join(", ")
    )]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// The standard name of the file, e.g. "train-images-idx3-ubyte".
        file: String,
        /// Every file name tried, in order.
        tried: Vec<String>,
    },

    /// The numbers of images and labels differ.
    #[error(
        "{}{images} images but {labels} labels",
        origin(images_path, labels_path)
    )]
    CountMismatch {
        /// Where the images came from, if from a file.
        images_path: Option<PathBuf>,
        /// Where the labels came from, if from a file.
        labels_path: Option<PathBuf>,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },

    /// A label is not below the number of classes.
    #[error(
        "{}label {label} of sample {index} is out of range: there are {num_classes} classes (labels 0..{num_classes})",
        origin(labels_path, &None)
    )]
    LabelOutOfRange {
        /// Where the labels came from, if from a file.
        labels_path: Option<PathBuf>,
        /// Which sample.
        index: usize,
        /// Its label.
        label: usize,
        /// The number of classes.
        num_classes: usize,
    },

    /// The image matrix does not have `rows * cols` columns.
    #[error("images have {found} pixels each, but {rows} rows x {cols} cols needs {}", rows.saturating_mul(*cols))]
    ImageSizeMismatch {
        /// Image height.
        rows: usize,
        /// Image width.
        cols: usize,
        /// Pixels per image actually given.
        found: usize,
    },

    /// A pixel value is NaN or infinite.
    #[error("pixel {pixel} of sample {index} is {value}; pixels must be finite")]
    NonFinitePixel {
        /// Which sample.
        index: usize,
        /// Which pixel in the flattened image.
        pixel: usize,
        /// Its value.
        value: f32,
    },

    /// A dataset was asked for with zero classes.
    #[error("a dataset needs at least one class, got num_classes = 0")]
    NoClasses,

    /// The train and test images of an MNIST directory differ in size.
    #[error(
        "{}: train images are {}x{} but test images are {}x{}",
        dir.display(), train.0, train.1, test.0, test.1
    )]
    SplitImageSizeMismatch {
        /// The directory loaded.
        dir: PathBuf,
        /// Train (rows, cols).
        train: (usize, usize),
        /// Test (rows, cols).
        test: (usize, usize),
    },

    /// A saved [`LoaderState`](crate::LoaderState) is inconsistent, or is for
    /// a dataset of another size.
    #[error("invalid data loader state: {0}")]
    InvalidLoaderState(String),
}

/// Names the IDX element type codes so a rejected file says what it holds.
fn idx_type_name(code: u8) -> &'static str {
    match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0b => "i16",
        0x0c => "i32",
        0x0d => "f32",
        0x0e => "f64",
        _ => "not an IDX type",
    }
}

/// Prefixes dataset errors with the files involved, when there are any.
fn origin(first: &Option<PathBuf>, second: &Option<PathBuf>) -> String {
    let show = |p: &Path| p.display().to_string();
    match (first, second) {
        (Some(a), Some(b)) => format!("{} and {}: ", show(a), show(b)),
        (Some(a), None) | (None, Some(a)) => format!("{}: ", show(a)),
        (None, None) => String::new(),
    }
}
