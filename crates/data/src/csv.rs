//! Reading a dataset from a CSV file: a header row, target and feature
//! columns chosen by name, text columns encoded, missing values reported or
//! dropped, and every malformed file an error naming file, line and column.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::{DataError, Dataset, Targets};

/// What to do with a row that has a missing value (an empty cell, `NA`, or a
/// token given to [`CsvOptions::missing_token`]) in a column that is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Missing {
    /// Stop with [`DataError::CsvMissingValue`], naming line and column.
    #[default]
    Error,
    /// Leave the row out; [`CsvData::dropped_lines`] lists it.
    DropRow,
}

/// How a text feature column becomes numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// One feature per category, 1 for the row's category and 0 for the
    /// others; features are named `column=category`.
    OneHot,
    /// One feature holding the category's index (in sorted order).
    ClassIndex,
}

/// How one column of the file became features (or targets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnEncoding {
    /// A number, as written.
    Number,
    /// One-hot over these categories, in feature order.
    OneHot(Vec<String>),
    /// The index of the category in this list.
    ClassIndex(Vec<String>),
}

/// A column of the file that the dataset uses, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvColumn {
    /// The name in the header.
    pub name: String,
    /// How its cells became numbers. Keep it to encode new data (at
    /// inference) exactly the same way.
    pub encoding: ColumnEncoding,
}

/// What [`CsvOptions::read`] returns: the dataset, and how it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvData {
    /// The samples.
    pub dataset: Dataset,
    /// The feature columns, in feature order, with their encodings.
    pub features: Vec<CsvColumn>,
    /// The target columns (one for classes, whose encoding lists the class
    /// names; one per value for real values).
    pub targets: Vec<CsvColumn>,
    /// The lines of the rows left out for missing values
    /// ([`Missing::DropRow`]), in file order.
    pub dropped_lines: Vec<u64>,
}

impl CsvData {
    /// How the reading went, for a user: e.g. `"333 rows, 9 features;
    /// dropped 11 rows with missing values (lines 5, 10, 12, …)"`.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} rows, {} features",
            self.dataset.len(),
            self.dataset.input_size()
        );
        if !self.dropped_lines.is_empty() {
            let shown: Vec<String> = self
                .dropped_lines
                .iter()
                .take(8)
                .map(ToString::to_string)
                .collect();
            let more = if self.dropped_lines.len() > shown.len() {
                ", …"
            } else {
                ""
            };
            text += &format!(
                "; dropped {} row{} with missing values (line{} {}{more})",
                self.dropped_lines.len(),
                if self.dropped_lines.len() == 1 {
                    ""
                } else {
                    "s"
                },
                if shown.len() == 1 { "" } else { "s" },
                shown.join(", ")
            );
        }
        text
    }
}

/// What the target column(s) hold.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TargetColumns {
    /// One column of class names.
    Classes(String),
    /// One or more columns of numbers.
    Values(Vec<String>),
}

/// How to read a CSV file into a [`Dataset`]: which columns are targets and
/// features, how text columns are encoded and what a missing value does.
///
/// The file is read once, row by row (the `csv` crate: quoted fields, CRLF
/// line ends, a UTF-8 byte-order mark and a trailing newline are all fine;
/// blank lines are skipped; cells are trimmed of spaces). Its first row names
/// the columns. Every problem is a [`DataError`] naming the file, the line
/// and the column; nothing panics.
///
/// ```
/// use descent_data::{CsvOptions, Missing, TextEncoding};
///
/// let csv = "species,island,mass,sex\nAdelie,Dream,3750,male\nGentoo,Biscoe,NA,female\n\
///            Gentoo,Biscoe,5000,female\n";
/// let data = CsvOptions::classes("species")
///     .text("island", TextEncoding::OneHot)
///     .text("sex", TextEncoding::OneHot)
///     .missing(Missing::DropRow)
///     .read_from(csv.as_bytes(), "penguins.csv")?;
/// assert_eq!(data.dataset.len(), 2);
/// assert_eq!(data.dropped_lines, [3]);
/// assert_eq!(data.dataset.targets().class_names().unwrap(), ["Adelie", "Gentoo"]);
/// let names = data.dataset.feature_names().unwrap();
/// assert_eq!(names, ["island=Biscoe", "island=Dream", "mass", "sex=female", "sex=male"]);
/// # Ok::<(), descent_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    targets: TargetColumns,
    features: Option<Vec<String>>,
    text: Vec<(String, TextEncoding)>,
    missing: Missing,
    missing_tokens: Vec<String>,
    delimiter: u8,
}

impl CsvOptions {
    fn with_targets(targets: TargetColumns) -> Self {
        Self {
            targets,
            features: None,
            text: Vec::new(),
            missing: Missing::Error,
            missing_tokens: vec![String::new(), "NA".to_owned()],
            delimiter: b',',
        }
    }

    /// Targets are classes: the text of column `column`, each distinct value
    /// a class, numbered in sorted order (numerically if every value is a
    /// number); the names are kept in the dataset's [`Targets`].
    pub fn classes(column: impl Into<String>) -> Self {
        Self::with_targets(TargetColumns::Classes(column.into()))
    }

    /// Targets are real values: the numbers of these columns, one target
    /// value each (several for a multi-output regression).
    pub fn values<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Self::with_targets(TargetColumns::Values(
            columns.into_iter().map(Into::into).collect(),
        ))
    }

    /// The feature columns, in this order. By default every column that is
    /// not a target, in file order.
    pub fn features<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.features = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Column `column` holds text, encoded as `encoding`. Categories are
    /// numbered in sorted order (numerically if every one is a number), so
    /// the encoding does not depend on the order of the rows. Applies when
    /// the column is a feature.
    pub fn text(mut self, column: impl Into<String>, encoding: TextEncoding) -> Self {
        self.text.push((column.into(), encoding));
        self
    }

    /// What a missing value in a used column does (default:
    /// [`Missing::Error`]).
    pub fn missing(mut self, missing: Missing) -> Self {
        self.missing = missing;
        self
    }

    /// Another cell text meaning "missing", besides an empty cell and `NA`
    /// (e.g. `?` or `NaN`).
    pub fn missing_token(mut self, token: impl Into<String>) -> Self {
        self.missing_tokens.push(token.into());
        self
    }

    /// The field separator (default `b','`; `b';'` or `b'\t'` for others).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// Reads the CSV file at `path`.
    ///
    /// # Errors
    /// [`DataError::Read`] if the file cannot be opened; then as
    /// [`CsvOptions::read_from`].
    pub fn read(&self, path: impl AsRef<Path>) -> Result<CsvData, DataError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| DataError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.read_from(file, path)
    }

    /// Reads CSV text from `reader`; `name` stands for the file in errors.
    ///
    /// # Errors
    /// [`DataError::CsvEmpty`] for no header, [`DataError::CsvNoRows`] for no
    /// data rows, [`DataError::CsvMissingColumn`],
    /// [`DataError::CsvDuplicateColumn`] or [`DataError::CsvColumnUsedTwice`]
    /// for a column that cannot be used as asked, [`DataError::CsvRaggedRow`]
    /// for a row with another number of fields than the header,
    /// [`DataError::CsvBadNumber`] for a cell of a numeric column that is not
    /// a finite number, [`DataError::CsvMissingValue`] for a missing value
    /// under [`Missing::Error`], [`DataError::CsvAllRowsDropped`] when
    /// [`Missing::DropRow`] leaves nothing, [`DataError::CsvInvalidUtf8`] and
    /// [`DataError::CsvRead`].
    pub fn read_from(
        &self,
        reader: impl Read,
        name: impl AsRef<Path>,
    ) -> Result<CsvData, DataError> {
        Reading::new(self, name.as_ref().to_path_buf()).run(reader)
    }
}

/// How one used column is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parse {
    Number,
    Text,
}

/// One used column's cells, as read so far (one per kept row).
#[derive(Debug)]
struct ColumnCells {
    /// Index in the header.
    index: usize,
    name: String,
    parse: Parse,
    /// The numbers of a numeric column.
    cells: Vec<f32>,
    /// The provisional category ids of a text column (in order of first
    /// appearance), which [`Categories::sorted`] renumbers at the end.
    ids: Vec<u32>,
    categories: Categories,
}

/// The distinct texts of a column, numbered as they first appear.
#[derive(Debug, Default)]
struct Categories {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Categories {
    fn id(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        // A file would need over 4 billion distinct texts in one column (and
        // far more memory than that) to overflow this.
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.ids.insert(text.to_owned(), id);
        self.names.push(text.to_owned());
        id
    }

    /// The names in sorted order (numerically when all are numbers) and,
    /// for each provisional id, its index in that order.
    fn sorted(&self) -> (Vec<String>, Vec<usize>) {
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        let numbers: Option<Vec<f64>> = self
            .names
            .iter()
            .map(|name| name.parse::<f64>().ok().filter(|x| x.is_finite()))
            .collect();
        match numbers {
            Some(numbers) => order.sort_by(|&a, &b| {
                numbers[a]
                    .total_cmp(&numbers[b])
                    .then_with(|| self.names[a].cmp(&self.names[b]))
            }),
            None => order.sort_by(|&a, &b| self.names[a].cmp(&self.names[b])),
        }
        let mut rank = vec![0; order.len()];
        for (position, &id) in order.iter().enumerate() {
            rank[id] = position;
        }
        let names = order.iter().map(|&id| self.names[id].clone()).collect();
        (names, rank)
    }
}

/// One reading of one file.
struct Reading<'a> {
    options: &'a CsvOptions,
    path: PathBuf,
}

/// A cell of a row being read, before the row is known to be kept.
enum PendingCell {
    Number(f32),
    Text(String),
}

impl<'a> Reading<'a> {
    fn new(options: &'a CsvOptions, path: PathBuf) -> Self {
        Self { options, path }
    }

    fn run(self, reader: impl Read) -> Result<CsvData, DataError> {
        let lines = Rc::new(RefCell::new(LineCounter::default()));
        // Lines end at `\n` alone: a `\r` before it is trimmed with the
        // cell's spaces. (The csv crate's own CRLF handling reports records
        // of CRLF files on wrong lines.)
        let mut csv = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.options.delimiter)
            .terminator(::csv::Terminator::Any(b'\n'))
            .from_reader(CountingReader {
                inner: reader,
                lines: Rc::clone(&lines),
            });
        let mut record = ::csv::ByteRecord::new();
        let mut line = 0;
        if !self.next_record(&mut csv, &mut record, &lines, &mut line)? {
            return Err(DataError::CsvEmpty { path: self.path });
        }
        let header = self.header(&record, line)?;
        let (target_indices, feature_indices) = self.select_columns(&header)?;
        let text_of = |index: usize| {
            self.options
                .text
                .iter()
                .find(|(name, _)| *name == header[index])
                .map(|&(_, encoding)| encoding)
        };
        let target_parse = match self.options.targets {
            TargetColumns::Classes(_) => Parse::Text,
            TargetColumns::Values(_) => Parse::Number,
        };
        let mut columns: Vec<ColumnCells> = target_indices
            .iter()
            .map(|&index| (index, target_parse))
            .chain(feature_indices.iter().map(|&index| {
                let parse = if text_of(index).is_some() {
                    Parse::Text
                } else {
                    Parse::Number
                };
                (index, parse)
            }))
            .map(|(index, parse)| ColumnCells {
                index,
                name: header[index].clone(),
                parse,
                cells: Vec::new(),
                ids: Vec::new(),
                categories: Categories::default(),
            })
            .collect();

        let mut dropped_lines = Vec::new();
        let mut rows_read = 0usize;
        // The used cells of the row being read, kept aside until the row is
        // known to be complete.
        let mut texts: Vec<PendingCell> = Vec::with_capacity(columns.len());
        while self.next_record(&mut csv, &mut record, &lines, &mut line)? {
            rows_read += 1;
            if record.len() != header.len() {
                return Err(DataError::CsvRaggedRow {
                    path: self.path,
                    line,
                    expected: header.len(),
                    found: record.len(),
                });
            }
            texts.clear();
            let mut missing = false;
            for column in &columns {
                let text = self.cell_text(&record, line, column.index)?;
                if self.options.missing_tokens.iter().any(|t| t == text) {
                    if self.options.missing == Missing::Error {
                        return Err(DataError::CsvMissingValue {
                            path: self.path,
                            line,
                            column: column.index + 1,
                            name: column.name.clone(),
                            text: text.to_owned(),
                        });
                    }
                    missing = true;
                    continue;
                }
                texts.push(match column.parse {
                    Parse::Number => PendingCell::Number(parse_number(text).ok_or_else(|| {
                        DataError::CsvBadNumber {
                            path: self.path.clone(),
                            line,
                            column: column.index + 1,
                            name: column.name.clone(),
                            text: text.to_owned(),
                        }
                    })?),
                    Parse::Text => PendingCell::Text(text.to_owned()),
                });
            }
            if missing {
                dropped_lines.push(line);
                continue;
            }
            for (column, cell) in columns.iter_mut().zip(texts.drain(..)) {
                match cell {
                    PendingCell::Number(x) => column.cells.push(x),
                    PendingCell::Text(text) => {
                        let id = column.categories.id(&text);
                        column.ids.push(id);
                    }
                }
            }
        }
        if rows_read == 0 {
            return Err(DataError::CsvNoRows { path: self.path });
        }
        if rows_read == dropped_lines.len() {
            return Err(DataError::CsvAllRowsDropped {
                path: self.path,
                rows: rows_read,
            });
        }
        let feature_columns = columns.split_off(target_indices.len());
        self.assemble(columns, feature_columns, &text_of, dropped_lines)
    }

    /// Builds the dataset from the columns read.
    fn assemble(
        self,
        target_columns: Vec<ColumnCells>,
        feature_columns: Vec<ColumnCells>,
        text_of: &dyn Fn(usize) -> Option<TextEncoding>,
        dropped_lines: Vec<u64>,
    ) -> Result<CsvData, DataError> {
        let rows = target_columns
            .first()
            .map_or(0, |c| c.cells.len().max(c.ids.len()));
        let mut targets_described = Vec::new();
        let targets = match self.options.targets {
            TargetColumns::Classes(_) => {
                let column = &target_columns[0];
                let (names, rank) = column.categories.sorted();
                let labels = column.ids.iter().map(|&id| rank[id as usize]).collect();
                targets_described.push(CsvColumn {
                    name: column.name.clone(),
                    encoding: ColumnEncoding::ClassIndex(names.clone()),
                });
                Targets::named_classes(labels, names)?
            }
            TargetColumns::Values(_) => {
                let mut values = Array2::zeros((rows, target_columns.len()));
                for (j, column) in target_columns.iter().enumerate() {
                    values.column_mut(j).assign(&ndarray::aview1(&column.cells));
                    targets_described.push(CsvColumn {
                        name: column.name.clone(),
                        encoding: ColumnEncoding::Number,
                    });
                }
                Targets::values(values)?
            }
        };

        // Each column's encoding and its features' names.
        let mut features_described = Vec::with_capacity(feature_columns.len());
        let mut names = Vec::new();
        let mut ranks = Vec::with_capacity(feature_columns.len());
        for column in &feature_columns {
            let encoding = match (column.parse, text_of(column.index)) {
                (Parse::Text, Some(encoding)) => {
                    let (categories, rank) = column.categories.sorted();
                    ranks.push(rank);
                    match encoding {
                        TextEncoding::OneHot => {
                            names.extend(
                                categories
                                    .iter()
                                    .map(|category| format!("{}={category}", column.name)),
                            );
                            ColumnEncoding::OneHot(categories)
                        }
                        TextEncoding::ClassIndex => {
                            names.push(column.name.clone());
                            ColumnEncoding::ClassIndex(categories)
                        }
                    }
                }
                _ => {
                    ranks.push(Vec::new());
                    names.push(column.name.clone());
                    ColumnEncoding::Number
                }
            };
            features_described.push(CsvColumn {
                name: column.name.clone(),
                encoding,
            });
        }

        let width = names.len();
        let mut features = Array2::zeros((rows, width));
        for (r, mut row) in features.rows_mut().into_iter().enumerate() {
            let mut j = 0;
            for ((column, described), rank) in
                feature_columns.iter().zip(&features_described).zip(&ranks)
            {
                match &described.encoding {
                    ColumnEncoding::Number => {
                        row[j] = column.cells[r];
                        j += 1;
                    }
                    ColumnEncoding::ClassIndex(_) => {
                        row[j] = rank[column.ids[r] as usize] as f32;
                        j += 1;
                    }
                    ColumnEncoding::OneHot(categories) => {
                        row[j + rank[column.ids[r] as usize]] = 1.0;
                        j += categories.len();
                    }
                }
            }
        }
        let dataset = Dataset::from_arrays(features, targets)?.with_feature_names(names);
        Ok(CsvData {
            dataset,
            features: features_described,
            targets: targets_described,
            dropped_lines,
        })
    }

    /// Reads the next record that is not a blank line, setting `line` to
    /// the line it starts on; `false` at the end of the file.
    fn next_record<R: Read>(
        &self,
        csv: &mut ::csv::Reader<R>,
        record: &mut ::csv::ByteRecord,
        lines: &RefCell<LineCounter>,
        line: &mut u64,
    ) -> Result<bool, DataError> {
        loop {
            let more = csv
                .read_byte_record(record)
                .map_err(|error| DataError::CsvRead {
                    path: self.path.clone(),
                    line: lines.borrow().lines_before(csv.position().byte()),
                    message: error.to_string(),
                })?;
            if !more {
                return Ok(false);
            }
            let inside = record
                .iter()
                .map(|field| field.iter().filter(|&&b| b == b'\n').count() as u64)
                .sum();
            *line = lines.borrow_mut().start_line(csv.position().byte(), inside);
            // A line of spaces (or the `\r` of an empty CRLF line) is blank.
            let blank = record.len() == 1 && record[0].trim_ascii().is_empty();
            if !blank {
                return Ok(true);
            }
        }
    }

    /// The header's column names, trimmed, without a byte-order mark.
    fn header(&self, record: &::csv::ByteRecord, line: u64) -> Result<Vec<String>, DataError> {
        (0..record.len())
            .map(|index| {
                let mut text = self.cell_text(record, line, index)?;
                if index == 0 {
                    text = text.strip_prefix('\u{feff}').unwrap_or(text).trim();
                }
                Ok(text.to_owned())
            })
            .collect()
    }

    /// Finds the target and feature columns in the header.
    fn select_columns(&self, header: &[String]) -> Result<(Vec<usize>, Vec<usize>), DataError> {
        let find = |name: &str| -> Result<usize, DataError> {
            let mut matches = header
                .iter()
                .enumerate()
                .filter(|(_, h)| *h == name)
                .map(|(i, _)| i);
            let first = matches.next().ok_or_else(|| DataError::CsvMissingColumn {
                path: self.path.clone(),
                column: name.to_owned(),
                available: header.to_vec(),
            })?;
            if let Some(second) = matches.next() {
                return Err(DataError::CsvDuplicateColumn {
                    path: self.path.clone(),
                    column: name.to_owned(),
                    first: first + 1,
                    second: second + 1,
                });
            }
            Ok(first)
        };
        let target_names: Vec<&str> = match &self.options.targets {
            TargetColumns::Classes(name) => vec![name],
            TargetColumns::Values(names) => names.iter().map(String::as_str).collect(),
        };
        if target_names.is_empty() {
            return Err(DataError::NoTargetColumns);
        }
        let targets = target_names
            .iter()
            .map(|name| find(name))
            .collect::<Result<Vec<_>, _>>()?;
        let features = match &self.options.features {
            Some(names) => names
                .iter()
                .map(|name| find(name))
                .collect::<Result<Vec<_>, _>>()?,
            None => (0..header.len())
                .filter(|index| !targets.contains(index))
                .collect(),
        };
        for (name, _) in &self.options.text {
            find(name)?;
        }
        let used_twice = |column: usize, uses: &str| DataError::CsvColumnUsedTwice {
            path: self.path.clone(),
            column: header[column].clone(),
            uses: uses.to_owned(),
        };
        for (i, &column) in targets.iter().enumerate() {
            if targets[..i].contains(&column) {
                return Err(used_twice(column, "twice as a target"));
            }
            if features.contains(&column) {
                return Err(used_twice(column, "as a target and as a feature"));
            }
        }
        for (i, &column) in features.iter().enumerate() {
            if features[..i].contains(&column) {
                return Err(used_twice(column, "twice as a feature"));
            }
        }
        // A column used by default must be as unambiguous as one named.
        for &column in targets.iter().chain(&features) {
            find(&header[column])?;
        }
        Ok((targets, features))
    }

    /// The trimmed text of cell `index` of `record`.
    fn cell_text<'r>(
        &self,
        record: &'r ::csv::ByteRecord,
        line: u64,
        index: usize,
    ) -> Result<&'r str, DataError> {
        let bytes = record.get(index).unwrap_or_default();
        std::str::from_utf8(bytes)
            .map(str::trim)
            .map_err(|_| DataError::CsvInvalidUtf8 {
                path: self.path.clone(),
                line,
                column: index + 1,
            })
    }
}

/// Where the `\n` bytes of the input are, to give each record the line it
/// starts on.
///
/// Counted here rather than taken from the csv crate's positions, which
/// skip blank lines after noting where a record starts. Only the line ends
/// not yet behind the last record are kept: as many as the csv reader's
/// buffer and the current record hold.
#[derive(Debug, Default)]
struct LineCounter {
    /// Offsets of the `\n` bytes at or after `settled_at`.
    newlines: VecDeque<u64>,
    /// How many `\n` bytes lie before `settled_at`.
    settled: u64,
    /// Where the last record ended.
    settled_at: u64,
    /// Bytes read so far.
    read: u64,
}

impl LineCounter {
    /// The line (from 1) that byte `offset` is on.
    fn lines_before(&self, offset: u64) -> u64 {
        let within = self.newlines.partition_point(|&at| at < offset);
        self.settled + within as u64 + 1
    }

    /// The line a record that ends at byte `end` (after its terminator and
    /// any blank lines the reader skipped) and holds `inside` line breaks in
    /// quoted fields starts on; forgets the line ends before `end`.
    fn start_line(&mut self, end: u64, inside: u64) -> u64 {
        // Step back over the record's terminator and blank lines.
        let mut last = end;
        while last > self.settled_at && self.newlines.binary_search(&(last - 1)).is_ok() {
            last -= 1;
        }
        let line = self.lines_before(last).saturating_sub(inside).max(1);
        while self.newlines.front().is_some_and(|&at| at < end) {
            self.newlines.pop_front();
            self.settled += 1;
        }
        self.settled_at = end;
        line
    }
}

/// A reader that notes where the line ends are.
struct CountingReader<R> {
    inner: R,
    lines: Rc<RefCell<LineCounter>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buffer)?;
        let mut lines = self.lines.borrow_mut();
        let start = lines.read;
        for (i, _) in buffer[..n].iter().enumerate().filter(|&(_, &b)| b == b'\n') {
            lines.newlines.push_back(start + i as u64);
        }
        lines.read += n as u64;
        Ok(n)
    }
}

/// A finite number, or `None`. Rust's float syntax also takes `inf` and
/// `NaN`, which are not data here, and numbers too large for `f32`.
fn parse_number(text: &str) -> Option<f32> {
    text.parse::<f32>().ok().filter(|x| x.is_finite())
}
