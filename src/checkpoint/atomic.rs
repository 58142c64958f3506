//! Replacing a file atomically: the target holds either its old contents or
//! the complete new ones, whatever happens during the write.
//!
//! The new contents go to a temporary file beside the target, named
//! `.{target name}.{pid}.{8 random characters}.tmp`. The random part makes a
//! name unique even when a restarted process gets the PID of one killed
//! mid-save (PID 1 in every container). The writer holds an exclusive
//! advisory lock (`flock` on Unix) on its temporary file from creation to
//! rename; the kernel drops the lock when the process dies, however it dies.
//! That gives the rule for cleaning up: **a temporary file of the same target
//! whose lock can be taken has no live writer, so it is stale and removed**
//! at the start of the next save. A file whose lock is held is left alone,
//! and so is every file on a file system without locks.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, TryLockError};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::error::{io_error, CheckpointError};

/// The longest file name ext4, XFS, Btrfs, ZFS and APFS accept, in bytes.
const MAX_NAME_BYTES: usize = 255;

/// Random characters in a temporary file's name (62^8 ≈ 2·10^14 names).
const RANDOM_CHARS: usize = 8;

/// What every temporary file's name ends with.
const TEMPORARY_SUFFIX: &str = ".tmp";

/// The most bytes a temporary name adds after its stem: `.`, a PID of up to
/// 10 digits, `.`, the random characters and the suffix.
const NAME_TAIL_BYTES: usize = 1 + 10 + 1 + RANDOM_CHARS + TEMPORARY_SUFFIX.len();

/// How many symbolic links a save follows before it gives up, as Linux does
/// (`ELOOP` after 40).
const MAX_SYMBOLIC_LINKS: usize = 40;

/// How many times a save creates a new temporary file after another process
/// removed its fresh one as stale, in the instant between creation and
/// locking.
const CREATE_ATTEMPTS: usize = 8;

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
/// If `path` is a symbolic link, the file it points to is replaced (the link
/// stays a link), as writing through the link would. Only a regular file (or
/// nothing) is ever replaced: a directory, FIFO, socket or device at `path`
/// is an error, so `/dev/null` stays a device even for root.
///
/// A process killed mid-write leaves a temporary file named
/// `.{file name}.{pid}.{random}.tmp` beside the target (the target itself is
/// intact); the next save to the same target removes it, since no process
/// holds its lock any more. The name never exceeds 255 bytes: a target name
/// longer than 230 bytes is shortened in it and followed by a hash of the
/// whole name.
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
/// [`CheckpointError::Io`] naming the step that failed and the file,
/// including `replace` for a target that is not a regular file. An error
/// from the final directory sync comes after the rename: the new file is in
/// place but may not survive a power cut.
pub fn write_atomically(
    path: impl AsRef<Path>,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), CheckpointError> {
    write_atomically_as(std::process::id(), path.as_ref(), write)
}

/// [`write_atomically`] for a process whose PID is `process_id`: the PID only
/// goes into the temporary file's name, so tests can play a restarted
/// process that got the PID of a killed one.
fn write_atomically_as(
    process_id: u32,
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), CheckpointError> {
    let target = resolve_target(path)?;
    let Some(file_name) = target.file_name() else {
        return Err(io_error("write", path)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path has no file name",
        )));
    };
    let directory = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };

    let mut temporary = create_locked(directory, file_name, process_id)
        .map_err(io_error("create a temporary file in", directory))?;
    // Before writing, so that the space orphans hold is free for this save.
    remove_stale_temporaries(directory, file_name, temporary.path());
    let temporary_path = temporary.path().to_path_buf();

    let mut writer = BufWriter::new(temporary.as_file_mut());
    write(&mut writer).map_err(io_error("write", &temporary_path))?;
    writer
        .into_inner()
        .map_err(|error| io_error("write", &temporary_path)(error.into_error()))?
        .sync_all()
        .map_err(io_error("sync", &temporary_path))?;

    // Checked again: something else may have appeared at the target while
    // the file was written.
    check_replaceable(&target, path)?;
    // The file stays open, and locked, through the rename, so that no other
    // save can take it for an orphan; `persist` renames an open file on
    // Windows too. On failure the temporary file is removed when the error
    // is dropped.
    let file = temporary
        .persist(&target)
        .map_err(|error| io_error("rename into place", &target)(error.error))?;
    drop(file);
    sync_directory(directory).map_err(io_error("sync the directory", directory))
}

/// The file a save to `path` replaces: `path` itself, or the end of the chain
/// of symbolic links starting there. It must be a regular file or not exist.
fn resolve_target(path: &Path) -> Result<PathBuf, CheckpointError> {
    let mut target = path.to_path_buf();
    for _ in 0..=MAX_SYMBOLIC_LINKS {
        let metadata = match fs::symlink_metadata(&target) {
            Ok(metadata) => metadata,
            // Missing: the save creates it (or fails on the missing directory).
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(target),
            Err(error) => return Err(io_error("inspect", &target)(error)),
        };
        if !metadata.file_type().is_symlink() {
            refuse_unless_regular(&target, path, metadata.file_type())?;
            return Ok(target);
        }
        let link = fs::read_link(&target).map_err(io_error("follow the symbolic link", &target))?;
        // A relative link is relative to the link's directory; joining an
        // absolute one replaces the path.
        target = match target.parent() {
            Some(parent) => parent.join(link),
            None => link,
        };
    }
    Err(io_error("follow the symbolic links of", path)(
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("more than {MAX_SYMBOLIC_LINKS} links in a row (a loop?)"),
        ),
    ))
}

/// Refuses a `target` (reached from `path`) that has become something other
/// than a regular file.
fn check_replaceable(target: &Path, path: &Path) -> Result<(), CheckpointError> {
    match fs::symlink_metadata(target) {
        Ok(metadata) if !metadata.file_type().is_symlink() => {
            refuse_unless_regular(target, path, metadata.file_type())
        }
        // A new link or a vanished file is replaced as the rename always
        // would; only a non-regular file must never be.
        _ => Ok(()),
    }
}

fn refuse_unless_regular(
    target: &Path,
    path: &Path,
    file_type: fs::FileType,
) -> Result<(), CheckpointError> {
    if file_type.is_file() {
        return Ok(());
    }
    let through = if target == path {
        String::new()
    } else {
        format!(" (the symbolic link `{}` points to it)", path.display())
    };
    Err(io_error("replace", target)(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "it is {}, not a regular file{through}; a save only ever replaces a regular file",
            describe(file_type)
        ),
    )))
}

fn describe(file_type: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// The start of every temporary name for `target_name`: a dot (hidden on
/// Unix), then the target's name, shortened if the whole temporary name
/// could otherwise exceed [`MAX_NAME_BYTES`].
fn temporary_stem(target_name: &OsStr) -> OsString {
    let mut stem = OsString::from(".");
    if 1 + target_name.len() + NAME_TAIL_BYTES <= MAX_NAME_BYTES {
        stem.push(target_name);
        return stem;
    }
    // The hash keeps two long names with the same beginning apart. Cut at a
    // character boundary of the lossy UTF-8 form so the name stays valid.
    let hash = crc32fast::hash(target_name.as_encoded_bytes());
    let hash_part = format!("~{hash:08x}");
    let lossy = target_name.to_string_lossy();
    let mut keep = MAX_NAME_BYTES - NAME_TAIL_BYTES - 1 - hash_part.len();
    while !lossy.is_char_boundary(keep) {
        keep -= 1;
    }
    stem.push(&lossy[..keep]);
    stem.push(hash_part);
    stem
}

/// The part of a temporary name before its random characters.
fn temporary_prefix(target_name: &OsStr, process_id: u32) -> OsString {
    let mut prefix = temporary_stem(target_name);
    prefix.push(format!(".{process_id}."));
    prefix
}

/// Whether `name` is a temporary file of a save to `target_name`: its stem,
/// then exactly `.{digits}.{letters and digits}.tmp`. The older
/// `.{name}.{pid}.{counter}.tmp` files match too, so the orphans of earlier
/// versions go as well; a temporary file of another target never matches
/// (`run.ckpt.1`'s have one more dotted part than `run.ckpt`'s).
fn is_temporary_of(name: &OsStr, target_name: &OsStr) -> bool {
    let stem = temporary_stem(target_name);
    let Some(rest) = name
        .as_encoded_bytes()
        .strip_prefix(stem.as_encoded_bytes())
    else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(b".") else {
        return false;
    };
    let Some(middle) = rest.strip_suffix(TEMPORARY_SUFFIX.as_bytes()) else {
        return false;
    };
    let mut parts = middle.split(|&byte| byte == b'.');
    let (Some(pid), Some(random), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !pid.is_empty()
        && pid.iter().all(u8::is_ascii_digit)
        && !random.is_empty()
        && random.iter().all(u8::is_ascii_alphanumeric)
}

/// Creates a fresh temporary file for `target_name` in `directory` and takes
/// its lock, which it keeps until it is closed.
fn create_locked(
    directory: &Path,
    target_name: &OsStr,
    process_id: u32,
) -> io::Result<NamedTempFile> {
    let prefix = temporary_prefix(target_name, process_id);
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(&prefix)
        .suffix(TEMPORARY_SUFFIX)
        .rand_bytes(RANDOM_CHARS);
    // The rename keeps the temporary file's permissions: the default of a
    // new file (0o666 less the umask), as `File::create` gives, rather than
    // tempfile's private 0o600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut attempts = 0;
    loop {
        attempts += 1;
        let temporary = builder.tempfile_in(directory)?;
        match temporary.as_file().try_lock() {
            // Between creation and locking, another save may have taken the
            // new file for an orphan and removed it: then make another.
            Ok(()) if still_named(&temporary)? => return Ok(temporary),
            Ok(()) | Err(TryLockError::WouldBlock) if attempts < CREATE_ATTEMPTS => continue,
            Ok(()) | Err(TryLockError::WouldBlock) => {
                return Err(io::Error::other(
                    "other saves kept removing the new temporary file",
                ))
            }
            // No locks on this file system: saving still works, but no save
            // removes this file while it is written, since none can lock it.
            Err(TryLockError::Error(_)) => return Ok(temporary),
        }
    }
}

/// Whether the temporary file's path still names the open file.
#[cfg(unix)]
fn still_named(temporary: &NamedTempFile) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = temporary.as_file().metadata()?;
    Ok(match fs::symlink_metadata(temporary.path()) {
        Ok(named) => (named.dev(), named.ino()) == (open.dev(), open.ino()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => false,
        Err(error) => return Err(error),
    })
}

/// Windows cannot remove a file another process holds open.
#[cfg(not(unix))]
fn still_named(_temporary: &NamedTempFile) -> io::Result<bool> {
    Ok(true)
}

/// Removes every temporary file of `target_name` in `directory` whose lock
/// can be taken (its writer is dead), except `own`. Best effort: a file that
/// cannot be inspected is left for the next save, and errors here never fail
/// this save.
fn remove_stale_temporaries(directory: &Path, target_name: &OsStr, own: &Path) {
    let Ok(entries) = fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // A FIFO would block the open below: regular files only.
        let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
        if !is_file || path == own || !is_temporary_of(&entry.file_name(), target_name) {
            continue;
        }
        if let Ok(file) = File::open(&path) {
            if file.try_lock().is_ok() && names_same_file(&path, &file) {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Whether `path` still names `file`, so that only the file whose lock was
/// taken is removed.
#[cfg(unix)]
fn names_same_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::symlink_metadata(path), file.metadata()) {
        (Ok(named), Ok(open)) => (named.dev(), named.ino()) == (open.dev(), open.ino()),
        _ => false,
    }
}

#[cfg(not(unix))]
fn names_same_file(_path: &Path, _file: &File) -> bool {
    true
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

#[cfg(test)]
mod tests {
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::checkpoint::{Checkpoint, Progress};
    use descent_autograd::{Parameter, Tensor};

    /// The PID every process plays in these tests: a trainer in a container
    /// is PID 1 after every restart.
    const FAKE_PID: u32 = 1;

    /// Environment variables that turn [`child_saver`] into a saving process.
    const CHILD_MODE: &str = "DESCENT_ATOMIC_TEST_CHILD";
    const CHILD_TARGET: &str = "DESCENT_ATOMIC_TEST_TARGET";
    const CHILD_FIRST_EPOCH: &str = "DESCENT_ATOMIC_TEST_FIRST_EPOCH";

    /// A checkpoint of `values` floats (4 bytes each) at `epoch`, as bytes.
    fn checkpoint_bytes(values: usize, epoch: u64) -> Vec<u8> {
        let weight = Tensor::from_shape_fn(vec![values], |index| (index[0] as u64 + epoch) as f32);
        Checkpoint::capture(&[("weight".to_owned(), Parameter::new(weight))])
            .with_progress(Progress { epoch, step: epoch })
            .to_bytes()
            .unwrap()
    }

    /// The lib test binary itself, running only [`child_saver`] in `mode`.
    fn spawn_child(mode: &str, target: &Path) -> Child {
        spawn_child_from(mode, target, 0)
    }

    /// [`spawn_child`], whose `forever` saves start at `first_epoch`.
    fn spawn_child_from(mode: &str, target: &Path, first_epoch: u64) -> Child {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "checkpoint::atomic::tests::child_saver",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CHILD_MODE, mode)
            .env(CHILD_TARGET, target)
            .env(CHILD_FIRST_EPOCH, first_epoch.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// A save under [`FAKE_PID`], as a separate process: `hang` stops for
    /// good half-way through writing, `once` saves and exits, `forever`
    /// saves checkpoints of growing epochs until it is killed.
    #[test]
    #[ignore = "a helper: the tests below run it in a child process"]
    fn child_saver() {
        // Run by hand, without the variables, it has nothing to do.
        let (Ok(mode), Some(target)) = (std::env::var(CHILD_MODE), std::env::var_os(CHILD_TARGET))
        else {
            return;
        };
        let target = PathBuf::from(target);
        match mode.as_str() {
            "hang" => {
                let _ = write_atomically_as(FAKE_PID, &target, |file| {
                    file.write_all(&vec![7; 1 << 20])?;
                    file.flush()?;
                    loop {
                        std::thread::sleep(Duration::from_secs(1));
                    }
                });
            }
            "once" => {
                let bytes = checkpoint_bytes(1 << 10, 1000);
                write_atomically_as(FAKE_PID, &target, |file| file.write_all(&bytes)).unwrap();
            }
            "forever" => {
                let first_epoch: u64 = std::env::var(CHILD_FIRST_EPOCH).unwrap().parse().unwrap();
                for epoch in first_epoch.. {
                    let bytes = checkpoint_bytes(1 << 20, epoch);
                    write_atomically_as(FAKE_PID, &target, |file| file.write_all(&bytes)).unwrap();
                }
            }
            other => panic!("unknown child mode {other}"),
        }
    }

    /// The temporary files in `dir`.
    fn temporaries(dir: &Path) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension() == Some(OsStr::new("tmp")))
            .collect();
        found.sort();
        found
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_restart_under_the_pid_of_a_save_killed_midway_saves_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("run.ckpt");
        let old = checkpoint_bytes(16, 1);
        write_atomically_as(FAKE_PID, &target, |file| file.write_all(&old)).unwrap();

        let mut hung = spawn_child("hang", &target);
        let deadline = Instant::now() + Duration::from_secs(60);
        let orphan = loop {
            let found = temporaries(dir.path());
            if let [one] = &found[..] {
                if fs::metadata(one).is_ok_and(|m| m.len() >= 1 << 20) {
                    break one.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "the child never started its save"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(orphan
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".run.ckpt.1."));

        // While its writer lives, the file is not an orphan: a concurrent
        // save under the same PID succeeds beside it and leaves it alone.
        let newer = checkpoint_bytes(16, 2);
        write_atomically_as(FAKE_PID, &target, |file| file.write_all(&newer)).unwrap();
        assert_eq!(temporaries(dir.path()), std::slice::from_ref(&orphan));
        assert_eq!(fs::read(&target).unwrap(), newer);

        hung.kill().unwrap();
        hung.wait().unwrap();
        assert_eq!(temporaries(dir.path()), [orphan]);

        // A fresh process, with the same PID, saves at once and removes the
        // orphan.
        let status = spawn_child("once", &target).wait().unwrap();
        assert!(status.success(), "the restarted save failed: {status}");
        assert_eq!(entries(dir.path()), ["run.ckpt"]);
        let loaded = Checkpoint::load(&target).unwrap();
        assert_eq!(loaded.progress().epoch, 1000);
    }

    /// Kills a process that saves in a loop, at varying moments, and
    /// restarts it under the same PID, `DESCENT_KILL_RUNS` times (100 by
    /// default); then checks that one valid checkpoint and no temporary file
    /// remain. Run with
    /// `cargo test -p descent --lib kill_and_restart -- --ignored --nocapture`.
    #[test]
    #[ignore = "takes a minute; run by hand"]
    fn kill_and_restart_loop_under_one_pid() {
        use rand::{Rng, SeedableRng};
        let runs: usize = std::env::var("DESCENT_KILL_RUNS")
            .ok()
            .and_then(|runs| runs.parse().ok())
            .unwrap_or(100);
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("run.ckpt");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        let started = Instant::now();
        let (mut kills_mid_save, mut most_temporaries, mut runs_that_saved) = (0, 0, 0);
        for run in 0..runs as u64 {
            // Each run's epochs start at run * 10^6, to tell whose save the
            // checkpoint holds.
            let first_epoch = run * 1_000_000;
            let mut saver = spawn_child_from("forever", &target, first_epoch);
            std::thread::sleep(Duration::from_millis(rng.random_range(50..400)));
            saver.kill().unwrap();
            saver.wait().unwrap();

            let left = temporaries(dir.path()).len();
            kills_mid_save += usize::from(left > 0);
            most_temporaries = most_temporaries.max(left);
            if target.exists() {
                let epoch = Checkpoint::load(&target)
                    .unwrap_or_else(|error| panic!("run {run}: {error}"))
                    .progress()
                    .epoch;
                runs_that_saved += usize::from(epoch >= first_epoch);
            }
        }
        let status = spawn_child("once", &target).wait().unwrap();
        assert!(status.success());
        assert_eq!(entries(dir.path()), ["run.ckpt"]);
        assert_eq!(Checkpoint::load(&target).unwrap().progress().epoch, 1000);
        println!(
            "{runs} runs killed in {:.1} s, all under PID {FAKE_PID}: {runs_that_saved} completed \
             at least one save, {kills_mid_save} were killed mid-save (a temporary file left), at \
             most {most_temporaries} temporary file(s) at once; the checkpoint loaded after every \
             kill, and the final restart left only run.ckpt, which loads",
            started.elapsed().as_secs_f64()
        );
    }

    #[test]
    fn temporary_names_fit_the_name_limit_and_belong_to_their_target_only() {
        for len in 1..=MAX_NAME_BYTES {
            for unit in ["a", "é", "✓"] {
                let name: String = unit.repeat(len).chars().take(len / unit.len()).collect();
                if name.is_empty() {
                    continue;
                }
                let name = OsString::from(name);
                let mut temporary = temporary_prefix(&name, u32::MAX);
                temporary.push("Ab3dE6gH");
                temporary.push(TEMPORARY_SUFFIX);
                assert!(temporary.len() <= MAX_NAME_BYTES, "{len} bytes of {unit}");
                assert!(is_temporary_of(&temporary, &name), "{temporary:?}");
            }
        }
        let own = OsStr::new("run.ckpt");
        for name in [
            ".run.ckpt.1.Ab3dE6gH.tmp",
            ".run.ckpt.4242.k.tmp",
            // An orphan of the earlier `.{name}.{pid}.{counter}.tmp` scheme.
            ".run.ckpt.4242.0.tmp",
        ] {
            assert!(is_temporary_of(OsStr::new(name), own), "{name}");
        }
        for name in [
            "run.ckpt",
            ".run.ckpt.tmp",
            ".run.ckpt..Ab3dE6gH.tmp",
            ".run.ckpt.1.Ab3d-6gH.tmp",
            ".run.ckpt.x1.Ab3dE6gH.tmp",
            // The temporary files of `run.ckpt.1` and `run.ckpt.old`.
            ".run.ckpt.1.4242.Ab3dE6gH.tmp",
            ".run.ckpt.old.4242.0.tmp",
            ".run.ckpts.1.Ab3dE6gH.tmp",
        ] {
            assert!(!is_temporary_of(OsStr::new(name), own), "{name}");
        }
        // Two long names that differ only past the cut keep apart.
        let long_a = OsString::from(format!("{}a", "x".repeat(250)));
        let long_b = OsString::from(format!("{}b", "x".repeat(250)));
        let mut temporary = temporary_prefix(&long_a, 7);
        temporary.push("Ab3dE6gH.tmp");
        assert!(is_temporary_of(&temporary, &long_a));
        assert!(!is_temporary_of(&temporary, &long_b));
    }
}
