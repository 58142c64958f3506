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

    /// Features given as a 0-dimensional array: there is no sample axis.
    #[error("features need a first axis of samples, shape [n, ...]; got a 0-dimensional array")]
    NoSampleAxis,

    /// The numbers of samples and targets differ.
    #[error("{samples} samples but {targets} targets")]
    TargetCountMismatch {
        /// Samples (rows of features).
        samples: usize,
        /// Targets.
        targets: usize,
    },

    /// A feature value is NaN or infinite.
    #[error("feature {feature} of sample {index} is {value}; features must be finite")]
    NonFiniteFeature {
        /// Which sample.
        index: usize,
        /// Which feature in the flattened sample.
        feature: usize,
        /// Its value.
        value: f32,
    },

    /// A real-valued target is NaN or infinite.
    #[error("target {column} of sample {index} is {value}; targets must be finite")]
    NonFiniteTarget {
        /// Which sample.
        index: usize,
        /// Which of the sample's target values.
        column: usize,
        /// Its value.
        value: f32,
    },

    /// Real-valued targets with zero values per sample, or a CSV read with no
    /// target column.
    #[error("targets need at least one value per sample (or one target column)")]
    NoTargetColumns,

    /// Class names that are not one per class.
    #[error("{names} class names for {num_classes} classes")]
    ClassNameCount {
        /// The number of classes.
        num_classes: usize,
        /// The number of names.
        names: usize,
    },

    /// A CSV file holds nothing, not even a header row.
    #[error("{}: empty file: expected a header row naming the columns", path.display())]
    CsvEmpty {
        /// The file.
        path: PathBuf,
    },

    /// A CSV file has a header but no data rows.
    #[error("{}: no data rows after the header (line 1)", path.display())]
    CsvNoRows {
        /// The file.
        path: PathBuf,
    },

    /// Every row of a CSV file had a missing value and was dropped.
    #[error("{}: all {rows} data rows have missing values in the columns used; nothing is left", path.display())]
    CsvAllRowsDropped {
        /// The file.
        path: PathBuf,
        /// How many rows were dropped.
        rows: usize,
    },

    /// A column asked for is not in the header.
    #[error(
        "{}, line 1: no column named `{column}`; the header has: {}",
        path.display(), available.join(", ")
    )]
    CsvMissingColumn {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        column: String,
        /// The header's names.
        available: Vec<String>,
    },

    /// A column asked for appears more than once in the header, so which one
    /// is meant is unclear.
    #[error(
        "{}, line 1: column `{column}` appears more than once in the header (columns {first} and {second})",
        path.display()
    )]
    CsvDuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The name.
        column: String,
        /// Its first column number, from 1.
        first: usize,
        /// Its second column number, from 1.
        second: usize,
    },

    /// A column is asked for twice in the reader's options, e.g. both as a
    /// target and as a feature.
    #[error("{}: column `{column}` is used twice: {uses}", path.display())]
    CsvColumnUsedTwice {
        /// The file.
        path: PathBuf,
        /// The name.
        column: String,
        /// The two uses, e.g. "as a target and as a feature".
        uses: String,
    },

    /// A row has another number of fields than the header.
    #[error(
        "{}, line {line}: {found} field(s), but the header has {expected}",
        path.display()
    )]
    CsvRaggedRow {
        /// The file.
        path: PathBuf,
        /// The line the row starts on, from 1.
        line: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },

    /// A cell of a numeric column is not a finite number.
    #[error(
        "{}, line {line}, column {column} (`{name}`): `{text}` is not a finite number \
         (if the column holds text, read it as one-hot or class-index)",
        path.display()
    )]
    CsvBadNumber {
        /// The file.
        path: PathBuf,
        /// The line the row starts on, from 1.
        line: u64,
        /// The column number, from 1.
        column: usize,
        /// The column's name.
        name: String,
        /// The cell's text.
        text: String,
    },

    /// A cell holds a missing-value marker and missing values are errors.
    #[error(
        "{}, line {line}, column {column} (`{name}`): missing value `{text}` \
         (drop such rows with `Missing::DropRow`)",
        path.display()
    )]
    CsvMissingValue {
        /// The file.
        path: PathBuf,
        /// The line the row starts on, from 1.
        line: u64,
        /// The column number, from 1.
        column: usize,
        /// The column's name.
        name: String,
        /// The cell's text (empty for an empty cell).
        text: String,
    },

    /// A cell (or the header) is not valid UTF-8.
    #[error("{}, line {line}, column {column}: not valid UTF-8", path.display())]
    CsvInvalidUtf8 {
        /// The file.
        path: PathBuf,
        /// The line the row starts on, from 1.
        line: u64,
        /// The column number, from 1.
        column: usize,
    },

    /// Statistics (given, deserialised, or named tensors) do not describe a
    /// [`StandardScaler`](crate::StandardScaler).
    #[error("cannot rebuild a StandardScaler{}: {reason}", tensors_under(.prefix))]
    InvalidScaler {
        /// The name prefix looked under, empty when the statistics did not
        /// come from named tensors.
        prefix: String,
        /// What is wrong.
        reason: String,
    },

    /// The CSV file could not be read (an I/O error midway).
    #[error("{}, line {line}: cannot read: {message}", path.display())]
    CsvRead {
        /// The file.
        path: PathBuf,
        /// The line reading stopped at, from 1.
        line: u64,
        /// What went wrong.
        message: String,
    },
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

/// Where an [`DataError::InvalidScaler`]'s statistics came from, for its
/// message.
fn tensors_under(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!(" from the tensors under `{prefix}`")
    }
}
