//! Reading datasets from CSV: columns by name, text encodings, missing
//! values, the dialects real files come in, one test per malformed file
//! checking its message, and a small seeded fuzz run (the long one is
//! `examples/fuzz_csv.rs`).

use crate::common;

use descent_data::{ColumnEncoding, CsvOptions, DataError, Missing, Targets, TextEncoding};
use ndarray::array;

const PENGUINS: &str = "\
species,island,bill_length_mm,body_mass_g,sex
Adelie,Torgersen,39.1,3750,male
Adelie,Torgersen,NA,NA,NA
Gentoo,Biscoe,46.1,4500,female
Chinstrap,Dream,46.5,3500,female
Gentoo,Biscoe,50,5700,
";

fn read(text: &str, options: &CsvOptions) -> Result<descent_data::CsvData, DataError> {
    options.read_from(text.as_bytes(), "test.csv")
}

fn error(text: &str, options: &CsvOptions) -> String {
    read(text, options).unwrap_err().to_string()
}

fn regression() -> CsvOptions {
    CsvOptions::values(["y"])
}

#[test]
fn values_target_and_every_other_column_as_features() {
    let data = read("a,y,b\n1,10,2\n3,30,4\n", &regression()).unwrap();
    assert_eq!(data.dataset.features(), array![[1.0f32, 2.0], [3.0, 4.0]]);
    assert_eq!(data.dataset.values(), array![[10.0f32], [30.0]]);
    assert_eq!(data.dataset.feature_names().unwrap(), ["a", "b"]);
    assert_eq!(data.targets[0].name, "y");
    assert!(data.dropped_lines.is_empty());
    assert_eq!(data.summary(), "2 rows, 2 features");
}

#[test]
fn features_and_several_targets_by_name_in_the_order_given() {
    let data = read(
        "a,b,c,y1,y2\n1,2,3,4,5\n6,7,8,9,10\n",
        &CsvOptions::values(["y2", "y1"]).features(["c", "a"]),
    )
    .unwrap();
    assert_eq!(data.dataset.features(), array![[3.0f32, 1.0], [8.0, 6.0]]);
    assert_eq!(data.dataset.values(), array![[5.0f32, 4.0], [10.0, 9.0]]);
}

#[test]
fn text_columns_one_hot_or_class_index_with_the_mapping_kept() {
    let data = read(
        "species,island,mass,sex\nGentoo,Dream,1,m\nAdelie,Biscoe,2,f\nGentoo,Torgersen,3,f\n",
        &CsvOptions::classes("species")
            .text("island", TextEncoding::OneHot)
            .text("sex", TextEncoding::ClassIndex),
    )
    .unwrap();
    let dataset = &data.dataset;
    assert_eq!(
        dataset.feature_names().unwrap(),
        [
            "island=Biscoe",
            "island=Dream",
            "island=Torgersen",
            "mass",
            "sex"
        ]
    );
    assert_eq!(
        dataset.features(),
        array![
            [0.0f32, 1.0, 0.0, 1.0, 1.0],
            [1.0, 0.0, 0.0, 2.0, 0.0],
            [0.0, 0.0, 1.0, 3.0, 0.0]
        ]
    );
    assert_eq!(dataset.labels(), [1, 0, 1]);
    assert_eq!(
        dataset.targets().class_names().unwrap(),
        ["Adelie", "Gentoo"]
    );
    assert_eq!(
        data.features[0].encoding,
        ColumnEncoding::OneHot(vec!["Biscoe".into(), "Dream".into(), "Torgersen".into()])
    );
    assert_eq!(data.features[1].encoding, ColumnEncoding::Number);
    assert_eq!(
        data.features[2].encoding,
        ColumnEncoding::ClassIndex(vec!["f".into(), "m".into()])
    );
    assert_eq!(
        data.targets[0].encoding,
        ColumnEncoding::ClassIndex(vec!["Adelie".into(), "Gentoo".into()])
    );
}

#[test]
fn numeric_class_names_are_numbered_in_numeric_order() {
    let data = read(
        "x,digit\n0,10\n1,9\n2,2\n3,9\n",
        &CsvOptions::classes("digit"),
    )
    .unwrap();
    assert_eq!(
        data.dataset.targets().class_names().unwrap(),
        ["2", "9", "10"]
    );
    assert_eq!(data.dataset.labels(), [2, 1, 0, 1]);
}

#[test]
fn missing_values_can_drop_their_rows_and_are_reported() {
    let options = CsvOptions::classes("species")
        .text("island", TextEncoding::OneHot)
        .text("sex", TextEncoding::OneHot)
        .missing(Missing::DropRow);
    let data = read(PENGUINS, &options).unwrap();
    assert_eq!(data.dataset.len(), 3);
    assert_eq!(data.dropped_lines, [3, 6]);
    assert_eq!(
        data.summary(),
        "3 rows, 7 features; dropped 2 rows with missing values (lines 3, 6)"
    );
    // A missing value in a column that is not used does not matter.
    let data = read(
        PENGUINS,
        &CsvOptions::classes("species")
            .features(["island"])
            .text("island", TextEncoding::ClassIndex),
    )
    .unwrap();
    assert_eq!(data.dataset.len(), 5);
}

#[test]
fn a_user_token_marks_missing_values_too() {
    let options = regression().missing_token("?").missing(Missing::DropRow);
    let data = read("x,y\n1,2\n?,3\n4,5\n", &options).unwrap();
    assert_eq!(data.dropped_lines, [3]);
    assert_eq!(data.dataset.features(), array![[1.0f32], [4.0]]);
}

#[test]
fn bom_quotes_crlf_blank_lines_spaces_and_no_final_newline_are_read() {
    let text = "\u{feff}\"x\",\"y\"\r\n\"1.5\",2\r\n\r\n 3 ,\"4\"";
    let data = read(text, &regression()).unwrap();
    assert_eq!(data.dataset.features(), array![[1.5f32], [3.0]]);
    assert_eq!(data.dataset.values(), array![[2.0f32], [4.0]]);

    // A quoted field may hold the delimiter, quotes and a line break; lines
    // in errors still count the file's lines.
    let text = "name,x,y\n\"a, \"\"b\"\"\nc\",1,2\nd,oops,3\n";
    let data = read(
        text,
        &regression()
            .text("name", TextEncoding::ClassIndex)
            .features(["name"]),
    )
    .unwrap();
    assert_eq!(
        data.features[0].encoding,
        ColumnEncoding::ClassIndex(vec!["a, \"b\"\nc".into(), "d".into()])
    );
    let err = error(text, &regression().features(["x"]));
    assert_eq!(
        err,
        "test.csv, line 4, column 2 (`x`): `oops` is not a finite number \
         (if the column holds text, read it as one-hot or class-index)"
    );
}

#[test]
fn another_delimiter() {
    let data = read("x;y\n1,5;2\n", &regression().delimiter(b';'));
    // `1,5` is not a number in Rust's syntax: the error says which cell.
    assert!(data
        .unwrap_err()
        .to_string()
        .contains("line 2, column 1 (`x`): `1,5`"));
    let data = read("x\ty\n1\t2\n", &regression().delimiter(b'\t')).unwrap();
    assert_eq!(data.dataset.values(), array![[2.0f32]]);
}

#[test]
fn a_file_read_from_disk_names_its_path() {
    let dir = common::scratch_dir("csv_path");
    let path = dir.join("data.csv");
    std::fs::write(&path, "x,y\n1,2\n3,zz\n").unwrap();
    let err = regression().read(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}, line 3, column 2 (`y`)", path.display())),
        "{err}"
    );
    let data = regression()
        .read(dir.join("data.csv"))
        .map(|d| d.dataset.len());
    assert!(data.is_err());
    let err = regression().read(dir.join("absent.csv")).unwrap_err();
    assert!(matches!(err, DataError::Read { .. }), "{err}");
    assert!(err.to_string().contains("absent.csv"), "{err}");
}

// One test per malformed file, each checking its message.

#[test]
fn empty_file() {
    assert_eq!(
        error("", &regression()),
        "test.csv: empty file: expected a header row naming the columns"
    );
    assert_eq!(
        error("\n\n", &regression()),
        "test.csv: empty file: expected a header row naming the columns"
    );
}

#[test]
fn header_without_rows() {
    assert_eq!(
        error("x,y\n", &regression()),
        "test.csv: no data rows after the header (line 1)"
    );
}

#[test]
fn missing_target_column() {
    assert_eq!(
        error("x,z\n1,2\n", &regression()),
        "test.csv, line 1: no column named `y`; the header has: x, z"
    );
}

#[test]
fn missing_feature_column() {
    assert_eq!(
        error("x,y\n1,2\n", &regression().features(["x", "w"])),
        "test.csv, line 1: no column named `w`; the header has: x, y"
    );
}

#[test]
fn missing_text_column() {
    assert_eq!(
        error(
            "x,y\n1,2\n",
            &regression().text("colour", TextEncoding::OneHot)
        ),
        "test.csv, line 1: no column named `colour`; the header has: x, y"
    );
}

#[test]
fn duplicate_column() {
    assert_eq!(
        error("x,y,x\n1,2,3\n", &regression()),
        "test.csv, line 1: column `x` appears more than once in the header (columns 1 and 3)"
    );
}

#[test]
fn column_used_as_target_and_feature() {
    assert_eq!(
        error("x,y\n1,2\n", &regression().features(["x", "y"])),
        "test.csv: column `y` is used twice: as a target and as a feature"
    );
}

#[test]
fn row_with_too_few_fields() {
    assert_eq!(
        error("x,y,z\n1,2,3\n4,5\n", &regression()),
        "test.csv, line 3: 2 field(s), but the header has 3"
    );
}

#[test]
fn row_with_too_many_fields() {
    assert_eq!(
        error("x,y\r\n1,2\r\n3,4\r\n5,6,7\r\n", &regression()),
        "test.csv, line 4: 3 field(s), but the header has 2"
    );
}

#[test]
fn number_that_does_not_parse() {
    assert_eq!(
        error("x,y\n1,2\n3,4x\n", &regression()),
        "test.csv, line 3, column 2 (`y`): `4x` is not a finite number \
         (if the column holds text, read it as one-hot or class-index)"
    );
}

#[test]
fn number_that_is_not_finite() {
    for text in ["inf", "NaN", "1e39"] {
        let err = error(&format!("x,y\n{text},2\n"), &regression());
        assert!(
            err.starts_with(&format!(
                "test.csv, line 2, column 1 (`x`): `{text}` is not a finite number"
            )),
            "{err}"
        );
    }
}

#[test]
fn missing_value_na() {
    assert_eq!(
        error(
            PENGUINS,
            &CsvOptions::classes("species").features(["body_mass_g"])
        ),
        "test.csv, line 3, column 4 (`body_mass_g`): missing value `NA` \
         (drop such rows with `Missing::DropRow`)"
    );
}

#[test]
fn missing_value_empty_cell() {
    assert_eq!(
        error("x,y\n1,2\n3,\n", &regression()),
        "test.csv, line 3, column 2 (`y`): missing value `` (drop such rows with `Missing::DropRow`)"
    );
}

#[test]
fn missing_value_user_token() {
    assert_eq!(
        error("x,y\n-,2\n", &regression().missing_token("-")),
        "test.csv, line 2, column 1 (`x`): missing value `-` (drop such rows with `Missing::DropRow`)"
    );
}

#[test]
fn missing_class_label() {
    assert_eq!(
        error("x,label\n1,a\n2,NA\n", &CsvOptions::classes("label")),
        "test.csv, line 3, column 2 (`label`): missing value `NA` (drop such rows with `Missing::DropRow`)"
    );
}

#[test]
fn every_row_dropped() {
    assert_eq!(
        error("x,y\nNA,1\n2,\n", &regression().missing(Missing::DropRow)),
        "test.csv: all 2 data rows have missing values in the columns used; nothing is left"
    );
}

#[test]
fn invalid_utf8() {
    let bytes = b"x,y\n1,2\n3,\xff\n";
    let err = regression().read_from(&bytes[..], "test.csv").unwrap_err();
    assert_eq!(
        err.to_string(),
        "test.csv, line 3, column 2: not valid UTF-8"
    );
}

#[test]
fn no_target_column() {
    let err = error("x,y\n1,2\n", &CsvOptions::values(Vec::<String>::new()));
    assert_eq!(
        err,
        "targets need at least one value per sample (or one target column)"
    );
}

#[test]
fn a_read_error_midway_names_the_line() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let text = b"x,y\n1,2\n3,4\n";
            if self.0 >= text.len() {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(text.len() - self.0).min(5);
            buf[..n].copy_from_slice(&text[self.0..self.0 + n]);
            self.0 += n;
            Ok(n)
        }
    }
    let err = regression().read_from(Failing(0), "test.csv").unwrap_err();
    assert!(matches!(err, DataError::CsvRead { .. }), "{err}");
    let message = err.to_string();
    assert!(message.starts_with("test.csv, line "), "{message}");
    assert!(message.contains("disk on fire"), "{message}");
}

#[test]
fn class_targets_are_named_in_the_dataset() {
    let data = read("x,c\n1,b\n2,a\n", &CsvOptions::classes("c")).unwrap();
    assert!(matches!(
        data.dataset.targets(),
        Targets::Classes { num_classes: 2, .. }
    ));
}

/// A bounded version of `examples/fuzz_csv.rs`: mutated files never panic.
#[test]
fn mutated_files_never_panic() {
    let cases = common::csv_fuzz::run(2_000, 7);
    assert_eq!(cases.total, 2_000);
    // The mutations reach both outcomes.
    assert!(cases.read > 100 && cases.rejected > 100, "{cases:?}");
}
