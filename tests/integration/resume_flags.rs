//! `--resume` with flags (examples/mnist.rs through `descent::resume`):
//! every flag either matches the checkpoint, is applied and announced, or is
//! refused with an error naming it; never printed and then ignored.

use descent::optim::{CosineAnnealingLr, LrScheduler, Optimizer, Sgd};
use descent::resume::{plan_resume, RequestedSettings, RunSettings};

fn saved() -> RunSettings {
    RunSettings {
        epochs: 4,
        batch_size: 64,
        lr: 1e-3,
        seed: 7,
        optimizer: "adam".to_owned(),
        schedule: "cosine".to_owned(),
        hidden: vec![512, 256],
    }
}

#[test]
fn settings_round_trip_through_the_notes() {
    let settings = RunSettings {
        lr: 0.1 + 0.2, // not a short decimal
        ..saved()
    };
    let notes = format!("free text\n{}\nmore", settings.to_notes());
    assert_eq!(RunSettings::from_notes(&notes).unwrap(), settings);
    assert!(RunSettings::from_notes("examples/mnist: --hidden [512]").is_err());
    let damaged = settings.to_notes().replace("seed=7", "seed=x");
    assert!(RunSettings::from_notes(&damaged)
        .unwrap_err()
        .contains("seed"));
}

#[test]
fn no_flags_continue_the_saved_run_unchanged() {
    let plan = plan_resume(&saved(), &RequestedSettings::default(), 2).unwrap();
    assert_eq!(plan.settings, saved());
    assert!(!plan.replan_schedule);
    assert!(plan.changes.is_empty());
}

#[test]
fn flags_that_repeat_the_saved_values_change_nothing() {
    let requested = RequestedSettings {
        epochs: Some(4),
        batch_size: Some(64),
        lr: Some(1e-3),
        seed: Some(7),
        optimizer: Some("adam".to_owned()),
        schedule: Some("cosine".to_owned()),
        hidden: Some(vec![512, 256]),
    };
    let plan = plan_resume(&saved(), &requested, 2).unwrap();
    assert_eq!(plan.settings, saved());
    assert!(!plan.replan_schedule);
}

#[test]
fn conflicting_batch_size_seed_optimizer_or_hidden_are_refused_by_name() {
    let cases = [
        (
            "--batch-size",
            RequestedSettings {
                batch_size: Some(32),
                ..Default::default()
            },
        ),
        (
            "--seed",
            RequestedSettings {
                seed: Some(8),
                ..Default::default()
            },
        ),
        (
            "--optimizer",
            RequestedSettings {
                optimizer: Some("sgd".to_owned()),
                ..Default::default()
            },
        ),
        (
            "--hidden",
            RequestedSettings {
                hidden: Some(vec![128]),
                ..Default::default()
            },
        ),
    ];
    for (flag, requested) in cases {
        let error = plan_resume(&saved(), &requested, 2).unwrap_err();
        assert_eq!(error.flag, flag);
        assert!(error.to_string().starts_with(flag), "{error}");
    }
}

#[test]
fn a_new_lr_is_applied_as_the_schedules_base_and_announced() {
    let requested = RequestedSettings {
        lr: Some(5e-4),
        ..Default::default()
    };
    let plan = plan_resume(&saved(), &requested, 2).unwrap();
    assert_eq!(plan.settings.lr, 5e-4);
    assert!(plan.replan_schedule);
    assert!(
        plan.changes[0].contains("--lr 0.0005"),
        "{:?}",
        plan.changes
    );
    let error = plan_resume(
        &saved(),
        &RequestedSettings {
            lr: Some(-1.0),
            ..Default::default()
        },
        2,
    )
    .unwrap_err();
    assert_eq!(error.flag, "--lr");
}

#[test]
fn more_epochs_replan_the_schedule_and_fewer_are_refused() {
    let more = RequestedSettings {
        epochs: Some(8),
        ..Default::default()
    };
    let plan = plan_resume(&saved(), &more, 4).unwrap();
    assert_eq!(plan.settings.epochs, 8);
    assert!(plan.replan_schedule);
    assert!(plan.changes[0].contains("--epochs 8"), "{:?}", plan.changes);

    let too_few = RequestedSettings {
        epochs: Some(3),
        ..Default::default()
    };
    assert_eq!(
        plan_resume(&saved(), &too_few, 3).unwrap_err().flag,
        "--epochs"
    );
}

#[test]
fn a_replanned_cosine_continues_on_the_new_curve_instead_of_at_zero() {
    // What the example does for `--epochs 8` after a 4-epoch cosine run:
    // the old schedule ends at lr 0 (and would restart the cosine after an
    // epoch at 0); the re-planned one stands at the new curve's epoch 4.
    let base = 0.1;
    let mut old = Sgd::new(base);
    let mut scheduler = LrScheduler::new(&mut old, CosineAnnealingLr::new(4)).unwrap();
    for _ in 0..4 {
        scheduler.step(&mut old);
    }
    assert!(old.learning_rate() < 1e-12, "the old plan has reached 0");

    let mut resumed = Sgd::new(base);
    let mut replanned = LrScheduler::new(&mut resumed, CosineAnnealingLr::new(8)).unwrap();
    for _ in 0..4 {
        replanned.try_step(&mut resumed).unwrap();
    }
    let expected = base * (1.0 + (std::f64::consts::PI * 4.0 / 8.0).cos()) / 2.0;
    assert!(
        (resumed.learning_rate() - expected).abs() < 1e-12,
        "{} vs {expected}",
        resumed.learning_rate()
    );
}
