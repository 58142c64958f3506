//! What a save does to the file system around its target: the temporary
//! files it leaves or removes, symbolic links, special files and long names.
//! (A save killed mid-write and restarted under the same PID is tested in
//! `src/checkpoint/atomic.rs`, which can fake the PID.)

use crate::checkpoint_support;

use std::fs::{self, File};
use std::path::Path;

use checkpoint_support::{entries, model, MLP};
use descent::checkpoint::{Checkpoint, CheckpointError};

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn checkpoint(seed: u64) -> Checkpoint {
    Checkpoint::capture(&model(MLP, seed))
}

// ---- temporary files -------------------------------------------------------

#[test]
fn an_orphan_left_under_this_pid_neither_blocks_nor_outlives_the_next_save() {
    // What a process killed mid-save left under the earlier naming scheme,
    // `.{name}.{pid}.{counter}.tmp`, when its PID is ours (the container
    // case: PID 1 after every restart). It used to make every save fail
    // with "File exists".
    let dir = scratch();
    let path = dir.path().join("run.ckpt");
    let orphan = dir
        .path()
        .join(format!(".run.ckpt.{}.0.tmp", std::process::id()));
    fs::write(&orphan, b"DESCENT\0 half a checkpoint").unwrap();

    checkpoint(1).save(&path).unwrap();
    assert_eq!(entries(dir.path()), ["run.ckpt"]);
    assert!(Checkpoint::load(&path).is_ok());
}

#[test]
fn a_save_removes_its_targets_orphans_and_nothing_else() {
    let dir = scratch();
    let path = dir.path().join("run.ckpt");
    let keep = [
        ".run.ckpt.1.tmp",              // not a temporary name
        ".run.ckpt.1.2.3.tmp",          // another target's (`run.ckpt.1`)
        ".other.ckpt.1.Ab3dE6gH.tmp",   // another target's
        "run.ckpt.1.Ab3dE6gH.tmp",      // not hidden: not ours
        ".run.ckpt.old.1.Ab3dE6gH.tmp", // `run.ckpt.old`'s
    ];
    let orphans = [".run.ckpt.1.Ab3dE6gH.tmp", ".run.ckpt.77.0.tmp"];
    for name in keep.iter().chain(&orphans) {
        fs::write(dir.path().join(name), b"x").unwrap();
    }
    checkpoint(2).save(&path).unwrap();
    let mut expected: Vec<&str> = keep.to_vec();
    expected.push("run.ckpt");
    expected.sort();
    assert_eq!(entries(dir.path()), expected);
}

#[test]
fn a_temporary_file_whose_lock_is_held_is_a_live_save_and_stays() {
    let dir = scratch();
    let path = dir.path().join("run.ckpt");
    let live = dir.path().join(".run.ckpt.1.Ab3dE6gH.tmp");
    let writer = File::create(&live).unwrap();
    // Another open file description conflicts even within this process,
    // as two threads saving at once would.
    writer.lock().unwrap();
    checkpoint(3).save(&path).unwrap();
    assert_eq!(
        entries(dir.path()),
        [".run.ckpt.1.Ab3dE6gH.tmp", "run.ckpt"]
    );

    drop(writer); // the writer dies: the kernel drops its lock
    checkpoint(4).save(&path).unwrap();
    assert_eq!(entries(dir.path()), ["run.ckpt"]);
}

#[test]
fn concurrent_saves_to_one_target_never_take_each_others_files_for_orphans() {
    // Each save sweeps the directory for orphans while the others write: a
    // live temporary file taken for one would fail that save's rename.
    let dir = scratch();
    let path = dir.path().join("run.ckpt");
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let path = &path;
            scope.spawn(move || {
                for round in 0..25 {
                    checkpoint(thread * 100 + round).save(path).unwrap();
                }
            });
        }
    });
    assert_eq!(entries(dir.path()), ["run.ckpt"]);
    assert!(Checkpoint::load(&path).is_ok());
}

#[test]
fn a_save_keeps_the_usual_permissions_of_a_new_file() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch();
        let (saved, created) = (dir.path().join("run.ckpt"), dir.path().join("plain"));
        checkpoint(5).save(&saved).unwrap();
        File::create(&created).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&saved), mode(&created));
    }
}

// ---- what is at the path -----------------------------------------------------

#[cfg(unix)]
#[test]
fn a_save_through_a_symbolic_link_replaces_the_file_it_points_to() {
    use std::os::unix::fs::symlink;

    let dir = scratch();
    fs::create_dir(dir.path().join("store")).unwrap();
    let real = dir.path().join("store/real.ckpt");
    let link = dir.path().join("latest.ckpt");
    symlink("store/real.ckpt", &link).unwrap();

    // A dangling link: the save creates its target.
    checkpoint(6).save(&link).unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&real).unwrap(), checkpoint(6).to_bytes().unwrap());

    // A link to a link to an existing file: the file is replaced.
    let outer = dir.path().join("outer.ckpt");
    symlink(&link, &outer).unwrap();
    checkpoint(7).save(&outer).unwrap();
    assert!(fs::symlink_metadata(&outer)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&real).unwrap(), checkpoint(7).to_bytes().unwrap());
    assert_eq!(entries(dir.path()), ["latest.ckpt", "outer.ckpt", "store"]);
    assert_eq!(entries(&dir.path().join("store")), ["real.ckpt"]);

    // A loop is an error, not a hang.
    let (a, b) = (dir.path().join("a.ckpt"), dir.path().join("b.ckpt"));
    symlink(&b, &a).unwrap();
    symlink(&a, &b).unwrap();
    let error = checkpoint(8).save(&a).unwrap_err();
    assert!(error.to_string().contains("symbolic link"), "{error}");
}

/// Refused with an error naming the path and saying what is there; the file
/// is still that file afterwards, and no temporary file is left.
#[cfg(unix)]
fn assert_refused(dir: &Path, path: &Path, what: &str) {
    let file_type = || fs::symlink_metadata(path).unwrap().file_type();
    let before = file_type();
    let listing = entries(dir);
    let error = checkpoint(9).save(path).unwrap_err();
    assert!(
        matches!(
            error,
            CheckpointError::Io {
                action: "replace",
                ..
            }
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(what), "{message}");
    assert!(message.contains("not a regular file"), "{message}");
    assert_eq!(file_type(), before);
    assert_eq!(entries(dir), listing);
}

#[cfg(unix)]
#[test]
fn a_fifo_a_device_or_a_directory_is_never_replaced() {
    use std::process::Command;

    let dir = scratch();
    let fifo = dir.path().join("pipe.ckpt");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    assert_refused(dir.path(), &fifo, "a FIFO");

    // A device node of our own, where the system allows making one (root):
    // `--save /dev/null` itself is not tried, since a regression would
    // replace the machine's /dev/null.
    let device = dir.path().join("null.ckpt");
    let made = Command::new("mknod")
        .arg(&device)
        .args(["c", "1", "3"])
        .stderr(std::process::Stdio::null())
        .status();
    if made.is_ok_and(|status| status.success()) {
        assert_refused(dir.path(), &device, "a character device");
    }

    let directory = dir.path().join("dir.ckpt");
    fs::create_dir(&directory).unwrap();
    assert_refused(dir.path(), &directory, "a directory");

    // Through a symbolic link, the message names both.
    let link = dir.path().join("link.ckpt");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let error = checkpoint(11).save(&link).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("a FIFO"), "{message}");
    assert!(message.contains(&link.display().to_string()), "{message}");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

// ---- names -------------------------------------------------------------------

#[test]
fn names_up_to_the_file_system_limit_save_and_load() {
    let dir = scratch();
    for len in [200, 230, 231, 241, 248, 254, 255] {
        let path = dir.path().join("c".repeat(len));
        checkpoint(len as u64).save(&path).unwrap();
        let loaded = Checkpoint::load(&path).unwrap();
        assert_eq!(
            loaded.to_bytes().unwrap(),
            checkpoint(len as u64).to_bytes().unwrap()
        );
    }
    // Multi-byte characters are cut whole in the temporary name.
    let path = dir.path().join(format!("{}.ckpt", "é".repeat(125)));
    checkpoint(1).save(&path).unwrap();
    assert!(Checkpoint::load(&path).is_ok());
    assert_eq!(entries(dir.path()).len(), 8, "temporary files left behind");
}
