//! Gradient-descent optimizers, learning-rate schedules and gradient clipping.
