//! Replacing a file atomically: the target holds either its old contents or
//! the complete new ones, whatever happens during the write.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{io_error, CheckpointError};

/// Writes a file through `write` so that `path` is replaced all at once or not
/// at all.
///
/// The contents go to a temporary file in the same directory (a rename is
/// only atomic within one file system), which is flushed and `fsync`ed, then
/// renamed over `path`; finally the directory is synced so that the rename
/// itself survives a power cut. If `write` fails or panics, or any step
/// before the rename fails (disk full, no permission), the temporary file is
/// removed and `path` keeps its previous contents, byte for byte.
///
/// A process killed mid-write can leave a temporary file named
/// `.{file name}.{pid}.{n}.tmp` beside the target; the target itself is still
/// intact.
///
/// ```
/// use std::io::Write;
/// # let dir = std::env::temp_dir().join(format!("descent-doc-atomic-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("metrics.csv");
/// descent::checkpoint::write_atomically(&path, |file| file.write_all(b"epoch,loss\n1,0.5\n"))?;
/// assert_eq!(std::fs::read(&path).unwrap(), b"epoch,loss\n1,0.5\n");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), descent::checkpoint::CheckpointError>(())
/// ```
///
/// # Errors
/// [`CheckpointError::Io`] naming the step that failed and the file. An error
/// from the final directory sync comes after the rename: the new file is in
/// place but may not survive a power cut.
pub fn write_atomically(
    path: impl AsRef<Path>,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let Some(file_name) = path.file_name() else {
        return Err(io_error("write", path)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path has no file name",
        )));
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };

    let (temporary, file) = TemporaryFile::create(directory, file_name)
        .map_err(io_error("create a temporary file in", directory))?;
    let temporary_path = temporary.path.clone();

    let mut writer = BufWriter::new(file);
    write(&mut writer).map_err(io_error("write", &temporary_path))?;
    let file = writer
        .into_inner()
        .map_err(|error| io_error("write", &temporary_path)(error.into_error()))?;
    file.sync_all().map_err(io_error("sync", &temporary_path))?;
    // Closed before the rename: Windows cannot rename an open file.
    drop(file);

    temporary
        .rename_over(path)
        .map_err(io_error("rename into place", path))?;
    sync_directory(directory).map_err(io_error("sync the directory", directory))
}

/// A temporary file that deletes itself unless it is renamed into place,
/// including when the writer panics.
struct TemporaryFile {
    path: PathBuf,
    renamed: bool,
}

impl TemporaryFile {
    fn create(directory: &Path, target_name: &std::ffi::OsStr) -> io::Result<(Self, File)> {
        // pid and a counter keep concurrent saves (threads or processes) to
        // the same target from sharing a temporary file; `create_new` makes
        // sure we never truncate a file we did not create.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut name = std::ffi::OsString::from(".");
        name.push(target_name);
        name.push(format!(".{}.{n}.tmp", std::process::id()));
        let path = directory.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok((
            TemporaryFile {
                path,
                renamed: false,
            },
            file,
        ))
    }

    fn rename_over(mut self, target: &Path) -> io::Result<()> {
        fs::rename(&self.path, target)?;
        self.renamed = true;
        Ok(())
    }
}

impl Drop for TemporaryFile {
    fn drop(&mut self) {
        if !self.renamed {
            // Nothing more can be done about a failed removal; the error that
            // got us here is the one to report.
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(unix)]
fn sync_directory(directory: &Path) -> io::Result<()> {
    File::open(directory)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_directory: &Path) -> io::Result<()> {
    // Windows cannot open a directory as a file; NTFS journals the rename.
    Ok(())
}
