//! The IDX file format of MNIST: reading (raw or gzipped) and writing.
//!
//! An IDX file is a 4-byte magic number — two zero bytes, an element type
//! code, the number of dimensions — then one big-endian `u32` per dimension,
//! then the elements in row-major order. Only the unsigned-byte element type
//! (code 0x08), the one MNIST uses, is supported.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::DataError;

/// The element type code of unsigned bytes, the only one supported.
const UNSIGNED_BYTE: u8 = 0x08;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The contents of an IDX file: its dimensions and its bytes in row-major order.
///
/// Invariant when produced by this crate: `data.len()` is the product of `dims`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxData {
    /// The size of each dimension, outermost first (for MNIST images:
    /// count, rows, cols).
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: Vec<u8>,
}

/// How [`write_idx`] stores the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdxEncoding {
    /// Plain IDX bytes.
    #[default]
    Raw,
    /// IDX bytes compressed with gzip, as MNIST is distributed.
    Gzip,
}

/// Reads an IDX file of unsigned bytes with `expected_dims` dimensions
/// (1 for MNIST labels, 3 for MNIST images).
///
/// Gzipped files are recognised by their content (the 0x1f 0x8b header), not
/// by their name. Every malformation — wrong magic, element type or number of
/// dimensions, a truncated header or data, bytes after the data — is an error
/// naming the path and the offending field or byte offset; no file content
/// makes this panic. Memory is only allocated for bytes actually present,
/// and a gzipped file is decompressed no further than one byte past the
/// size its header declares (1 MiB more to count trailing bytes).
///
/// # Errors
/// [`DataError::Read`] if the file cannot be opened or read, and the errors
/// of [`read_idx_from`].
pub fn read_idx(path: impl AsRef<Path>, expected_dims: usize) -> Result<IdxData, DataError> {
    IdxFile::open(path.as_ref(), expected_dims)?.read_data()
}

/// Reads IDX data (raw or gzipped) from any reader, like [`read_idx`].
///
/// `name` is only used in error messages to say where the data came from
/// (a path, or a label such as `"<memory>"`).
///
/// # Errors
/// [`DataError::Read`] or [`DataError::Gzip`] if reading or decompressing
/// fails; [`DataError::BadMagic`], [`DataError::UnsupportedType`],
/// [`DataError::WrongDimensionCount`], [`DataError::TruncatedHeader`],
/// [`DataError::DimensionsTooLarge`], [`DataError::TruncatedData`] or
/// [`DataError::TrailingBytes`] if the content is not a well-formed IDX file
/// of unsigned bytes with `expected_dims` dimensions.
pub fn read_idx_from<R: Read>(
    reader: R,
    name: impl AsRef<Path>,
    expected_dims: usize,
) -> Result<IdxData, DataError> {
    let path = name.as_ref();
    let mut parser = Parser::new(reader, path)?;
    let header = parser.parse_header(expected_dims)?;
    parser.read_data(header)
}

/// An IDX file whose header has been read and checked, and whose data has
/// not: a dataset compares the headers of its files before it reads the
/// data of any.
pub(crate) struct IdxFile<'p> {
    parser: Parser<'p, File>,
    header: Header,
}

impl<'p> IdxFile<'p> {
    /// Opens `path` and reads its header, which must declare `expected_dims`
    /// dimensions.
    pub(crate) fn open(path: &'p Path, expected_dims: usize) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|source| DataError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut parser = Parser::new(file, path)?;
        let header = parser.parse_header(expected_dims)?;
        Ok(Self { parser, header })
    }

    /// The dimensions the header declares.
    pub(crate) fn dims(&self) -> &[usize] {
        &self.header.dims
    }

    /// Reads the data, exactly as many bytes as the header declares.
    pub(crate) fn read_data(mut self) -> Result<IdxData, DataError> {
        self.parser.read_data(self.header)
    }
}

/// Writes `data` with dimensions `dims` as an IDX file of unsigned bytes,
/// raw or gzipped.
///
/// # Errors
/// [`DataError::UnencodableIdx`] if `data.len()` is not the product of
/// `dims`, there are more than 255 dimensions or one exceeds `u32::MAX`;
/// [`DataError::Write`] if the file cannot be written.
pub fn write_idx(
    path: impl AsRef<Path>,
    dims: &[usize],
    data: &[u8],
    encoding: IdxEncoding,
) -> Result<(), DataError> {
    let path = path.as_ref();
    let header = encode_header(dims, data.len())?;
    let write_err = |source| DataError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file = BufWriter::new(File::create(path).map_err(write_err)?);
    let file = match encoding {
        IdxEncoding::Raw => write_parts(file, &header, data),
        IdxEncoding::Gzip => {
            let mut encoder = GzEncoder::new(file, flate2::Compression::default());
            encoder
                .write_all(&header)
                .and_then(|()| encoder.write_all(data))
                .and_then(|()| encoder.finish())
        }
    }
    .map_err(write_err)?;
    file.into_inner()
        .map(drop)
        .map_err(|e| write_err(e.into_error()))
}

/// Encodes `data` with dimensions `dims` as raw IDX bytes in memory.
///
/// # Errors
/// [`DataError::UnencodableIdx`], as for [`write_idx`].
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Result<Vec<u8>, DataError> {
    let mut bytes = encode_header(dims, data.len())?;
    bytes.extend_from_slice(data);
    Ok(bytes)
}

fn write_parts<W: Write>(mut writer: W, header: &[u8], data: &[u8]) -> io::Result<W> {
    writer.write_all(header)?;
    writer.write_all(data)?;
    Ok(writer)
}

fn encode_header(dims: &[usize], data_len: usize) -> Result<Vec<u8>, DataError> {
    let fail = |reason: String| DataError::UnencodableIdx {
        dims: dims.to_vec(),
        data_len,
        reason,
    };
    let ndims = u8::try_from(dims.len()).map_err(|_| {
        fail(format!(
            "IDX allows at most 255 dimensions, got {}",
            dims.len()
        ))
    })?;
    let mut header = Vec::with_capacity(4 + 4 * dims.len());
    header.extend_from_slice(&[0, 0, UNSIGNED_BYTE, ndims]);
    for (i, &dim) in dims.iter().enumerate() {
        let dim = u32::try_from(dim).map_err(|_| {
            fail(format!(
                "dimension {i} is {dim}, above the IDX limit of u32::MAX"
            ))
        })?;
        header.extend_from_slice(&dim.to_be_bytes());
    }
    let elements = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if elements != Some(data_len) {
        return Err(fail(match elements {
            Some(n) => format!("the dimensions describe {n} elements"),
            None => "the product of the dimensions overflows".to_owned(),
        }));
    }
    Ok(header)
}

/// Reads until `buf` is full or the reader is exhausted; returns the count.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Which header field is being read, for error messages.
#[derive(Clone, Copy)]
enum HeaderField {
    Magic,
    Dimension(usize),
}

impl HeaderField {
    fn describe(self) -> String {
        match self {
            Self::Magic => "magic number".to_owned(),
            Self::Dimension(i) => format!("size of dimension {i}"),
        }
    }

    fn offset(self) -> u64 {
        match self {
            Self::Magic => 0,
            Self::Dimension(i) => 4 + 4 * i as u64,
        }
    }
}

/// How far past the declared data trailing bytes are counted: counting
/// them all would mean decompressing all of a gzip bomb's tail.
const TRAILING_COUNT_LIMIT: u64 = 1 << 20;

/// A stream after its first two bytes were read to tell gzip from raw IDX.
type Peeked<R> = io::Chain<io::Take<io::Cursor<[u8; 2]>>, R>;

/// The IDX bytes of a stream: as they are, or decompressed.
enum Source<R: Read> {
    Raw(Peeked<R>),
    Gzip(Box<MultiGzDecoder<Peeked<R>>>),
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Raw(raw) => raw.read(buffer),
            Source::Gzip(gzip) => gzip.read(buffer),
        }
    }
}

/// A checked header: the dimensions and the data size they imply.
struct Header {
    dims: Vec<usize>,
    header_len: u64,
    data_len: u64,
}

struct Parser<'p, R: Read> {
    reader: Source<R>,
    path: &'p Path,
}

impl<'p, R: Read> Parser<'p, R> {
    /// Recognises a gzip stream by its first two bytes.
    fn new(mut reader: R, path: &'p Path) -> Result<Self, DataError> {
        // Peek by reading into a small array and chaining it back in front,
        // so that detection works for any reader, not only buffered ones.
        let mut prefix = [0u8; 2];
        let prefix_len =
            read_up_to(&mut reader, &mut prefix).map_err(|source| DataError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        let gzipped = prefix_len == prefix.len() && prefix == GZIP_MAGIC;
        let stream = io::Cursor::new(prefix)
            .take(prefix_len as u64)
            .chain(reader);
        let reader = if gzipped {
            Source::Gzip(Box::new(MultiGzDecoder::new(stream)))
        } else {
            Source::Raw(stream)
        };
        Ok(Self { reader, path })
    }

    fn path(&self) -> PathBuf {
        self.path.to_path_buf()
    }

    fn io_error(&self, source: io::Error) -> DataError {
        match self.reader {
            Source::Gzip(_) => DataError::Gzip {
                path: self.path(),
                source,
            },
            Source::Raw(_) => DataError::Read {
                path: self.path(),
                source,
            },
        }
    }

    fn parse_header(&mut self, expected_dims: usize) -> Result<Header, DataError> {
        let [zero0, zero1, type_code, ndims] = self.read_field(HeaderField::Magic)?;
        if [zero0, zero1] != [0, 0] {
            return Err(DataError::BadMagic {
                path: self.path(),
                found: [zero0, zero1],
            });
        }
        if type_code != UNSIGNED_BYTE {
            return Err(DataError::UnsupportedType {
                path: self.path(),
                found: type_code,
            });
        }
        if usize::from(ndims) != expected_dims {
            return Err(DataError::WrongDimensionCount {
                path: self.path(),
                expected: expected_dims,
                found: ndims,
            });
        }

        let mut raw_dims = Vec::with_capacity(usize::from(ndims));
        for i in 0..usize::from(ndims) {
            raw_dims.push(u32::from_be_bytes(
                self.read_field(HeaderField::Dimension(i))?,
            ));
        }
        let header_len = 4 + 4 * u64::from(ndims);
        // The element count must fit in memory addresses; a 4-dimension
        // header of u32::MAX sizes would otherwise overflow.
        let data_len = raw_dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))
            .filter(|&n| n < u64::MAX && usize::try_from(n).is_ok())
            .ok_or_else(|| DataError::DimensionsTooLarge {
                path: self.path(),
                dims: raw_dims.clone(),
            })?;
        let dims: Vec<usize> = raw_dims.iter().map(|&d| d as usize).collect();
        Ok(Header {
            dims,
            header_len,
            data_len,
        })
    }

    fn read_data(&mut self, header: Header) -> Result<IdxData, DataError> {
        let Header {
            dims,
            header_len,
            data_len: expected,
        } = header;
        // `read_to_end` grows the buffer only as bytes arrive, so a header
        // claiming gigabytes in a tiny file allocates only what is really
        // there, and decompression stops one byte past the declared size,
        // which detects trailing garbage.
        let mut data = Vec::new();
        (&mut self.reader)
            .take(expected + 1)
            .read_to_end(&mut data)
            .map_err(|e| self.io_error(e))?;
        let found = data.len() as u64;
        if found < expected {
            return Err(DataError::TruncatedData {
                path: self.path(),
                dims,
                header_len,
                expected,
                found,
            });
        }
        if found > expected {
            let rest = io::copy(
                &mut (&mut self.reader).take(TRAILING_COUNT_LIMIT),
                &mut io::sink(),
            )
            .map_err(|e| self.io_error(e))?;
            return Err(DataError::TrailingBytes {
                path: self.path(),
                dims,
                offset: header_len + expected,
                expected,
                count: 1 + rest,
                counted_all: rest < TRAILING_COUNT_LIMIT,
            });
        }
        Ok(IdxData { dims, data })
    }

    fn read_field(&mut self, field: HeaderField) -> Result<[u8; 4], DataError> {
        let mut bytes = [0u8; 4];
        let found = read_up_to(&mut self.reader, &mut bytes).map_err(|e| self.io_error(e))?;
        if found < bytes.len() {
            return Err(DataError::TruncatedHeader {
                path: self.path(),
                field: field.describe(),
                offset: field.offset(),
                found: found as u64,
            });
        }
        Ok(bytes)
    }
}
