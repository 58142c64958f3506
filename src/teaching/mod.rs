//! What the teaching examples are made of: surfaces to descend, a runner that
//! records trajectories and notices divergence, linear regression by gradient
//! descent, and SVG pictures of it all.
//!
//! descent grew out of an article on gradient descent. The examples
//! `linear_regression` and `descent_tour` show each of its claims with this
//! framework's tape and optimizers; this module holds their reusable parts so
//! that the tests (`tests/integration/teaching.rs`) check the same code the examples run.
//!
//! - [`Surface`]: a function of two variables written with tape ops, so the
//!   tape gives its gradient and one vectorised pass gives a grid for a
//!   picture. [`Rosenbrock`] is a narrow curved valley; [`Wells`] is a bowl
//!   with dips (local minima).
//! - [`descend`] / [`descend_scheduled`]: any [`Optimizer`](crate::optim::Optimizer)
//!   on a surface, returning a [`Trajectory`]; a run whose loss stops being
//!   finite or explodes is stopped and reported as diverging.
//! - [`fit_line`]: the article's program; [`train_linear_regression`]: batch,
//!   mini-batch and stochastic descent on one synthetic data set.
//! - [`draw_figure`]: trajectories over contour lines and loss curves, as SVG.

mod descend;
mod plot;
mod regression;
mod surface;

pub use descend::{
    descend, descend_scheduled, random_starts, Divergence, Trajectory, BLOW_UP_FACTOR,
};
pub use plot::{
    contour_lines, draw_figure, quantile_levels, CurvePanel, CurveSeries, Legend, Panel,
    PathSeries, PlotError, RGBColor, SurfacePanel, PALETTE, PANEL_SIZE,
};
pub use regression::{
    fit_line, train_linear_regression, BatchRun, Line, LossPoint, RegressionData,
};
pub use surface::{distance, Bounds, Grid, Minimum, Rosenbrock, Surface, Well, Wells};
