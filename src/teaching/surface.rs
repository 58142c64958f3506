//! Loss surfaces of two variables to descend: a narrow valley and a bumpy
//! landscape, each written once with tape ops so that the same formula gives
//! the gradient (for descending) and the values on a grid (for plotting).

use crate::autograd::{Tape, Tensor, Var};

/// A rectangle of the plane: where a surface is plotted and where random
/// starting points are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Smallest and largest x.
    pub x: (f32, f32),
    /// Smallest and largest y.
    pub y: (f32, f32),
}

impl Bounds {
    /// Whether `point` lies inside (edges included).
    pub fn contains(&self, point: [f32; 2]) -> bool {
        (self.x.0..=self.x.1).contains(&point[0]) && (self.y.0..=self.y.1).contains(&point[1])
    }
}

/// A local minimum of a surface.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minimum {
    /// Where it is.
    pub point: [f32; 2],
    /// The surface's value there.
    pub value: f32,
    /// Whether it is the lowest point of the surface.
    pub global: bool,
}

/// A function of two variables to minimise.
///
/// [`Surface::eval`] records the function on a tape for `x` and `y` of any
/// (equal) shape, elementwise: with one-element values it gives a loss whose
/// gradient the tape computes; with a whole grid of values it gives the
/// picture.
pub trait Surface {
    /// A short name for tables and captions.
    fn name(&self) -> String;

    /// The function, elementwise, recorded on the tape of `x` and `y`.
    fn eval<'t>(&self, x: Var<'t>, y: Var<'t>) -> Var<'t>;

    /// Where the interesting part of the surface lies.
    fn bounds(&self) -> Bounds;

    /// Every local minimum inside [`Surface::bounds`], the global one flagged.
    fn minima(&self) -> Vec<Minimum>;

    /// The global minimum.
    fn global_minimum(&self) -> Minimum {
        self.minima()
            .into_iter()
            .find(|minimum| minimum.global)
            .expect("every surface lists its global minimum")
    }

    /// The listed minimum within `tolerance` of `point`, if any.
    fn minimum_near(&self, point: [f32; 2], tolerance: f32) -> Option<Minimum> {
        self.minima()
            .into_iter()
            .find(|minimum| distance(minimum.point, point) <= tolerance)
    }

    /// The value at one point, computed on a scratch tape.
    fn value_at(&self, point: [f32; 2]) -> f32 {
        let tape = Tape::new();
        tape.set_grad_enabled(false);
        let x = tape.constant(Tensor::from_elem(vec![1], point[0]));
        let y = tape.constant(Tensor::from_elem(vec![1], point[1]));
        self.eval(x, y).item()
    }

    /// The value and the gradient at one point, computed by the tape.
    fn value_and_gradient(&self, point: [f32; 2]) -> (f32, [f32; 2]) {
        let tape = Tape::new();
        let x = tape.variable(Tensor::from_elem(vec![1], point[0]));
        let y = tape.variable(Tensor::from_elem(vec![1], point[1]));
        let f = self.eval(x, y);
        f.backward();
        let grad = |v: Var<'_>| v.grad().map_or(0.0, |g| g.sum());
        (f.item(), [grad(x), grad(y)])
    }

    /// The values on a `columns` × `rows` grid spanning [`Surface::bounds`],
    /// row by row from the smallest y, each row from the smallest x: one
    /// vectorised pass over the tape with recording off.
    fn grid(&self, columns: usize, rows: usize) -> Grid {
        let bounds = self.bounds();
        let xs = linspace(bounds.x.0, bounds.x.1, columns);
        let ys = linspace(bounds.y.0, bounds.y.1, rows);
        let tape = Tape::new();
        tape.set_grad_enabled(false);
        let x = Tensor::from_shape_fn(vec![rows, columns], |index| xs[index[1]]);
        let y = Tensor::from_shape_fn(vec![rows, columns], |index| ys[index[0]]);
        let values = self.eval(tape.constant(x), tape.constant(y)).value();
        Grid {
            xs,
            ys,
            values: values.iter().copied().collect(),
        }
    }
}

/// A surface sampled on a regular grid; see [`Surface::grid`].
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// The x of each column.
    pub xs: Vec<f32>,
    /// The y of each row.
    pub ys: Vec<f32>,
    /// `values[row * xs.len() + column]`.
    pub values: Vec<f32>,
}

impl Grid {
    /// The value at `column`, `row`.
    pub fn at(&self, column: usize, row: usize) -> f32 {
        self.values[row * self.xs.len() + column]
    }
}

fn linspace(start: f32, end: f32, count: usize) -> Vec<f32> {
    assert!(count >= 2, "a grid needs at least two points per axis");
    (0..count)
        .map(|i| start + (end - start) * i as f32 / (count - 1) as f32)
        .collect()
}

/// The Euclidean distance between two points.
pub fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// Rosenbrock's function, `(a − x)² + b·(y − x²)²`: a long, narrow, curved
/// valley whose floor falls very gently towards the one minimum at `(a, a²)`.
///
/// Across the valley the surface is steep (curvature about `2b·(1 + 4x²)`),
/// along it nearly flat, so a learning rate small enough not to bounce
/// across the valley is too small to travel along it quickly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rosenbrock {
    /// Where the minimum lies: `(a, a²)`.
    pub a: f32,
    /// How steep the valley's walls are.
    pub b: f32,
}

impl Default for Rosenbrock {
    /// The classic one: `a = 1`, `b = 100`, minimum 0 at (1, 1).
    fn default() -> Self {
        Rosenbrock { a: 1.0, b: 100.0 }
    }
}

impl Rosenbrock {
    /// The classic starting point, (−1.2, 1), on the far side of the valley's
    /// bend.
    pub const START: [f32; 2] = [-1.2, 1.0];
}

impl Surface for Rosenbrock {
    fn name(&self) -> String {
        "Rosenbrock's valley".to_owned()
    }

    fn eval<'t>(&self, x: Var<'t>, y: Var<'t>) -> Var<'t> {
        let across = self.a - x;
        let along = y - x * x;
        across * across + along * along * self.b
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            x: (-2.0, 2.0),
            y: (-1.0, 3.0),
        }
    }

    fn minima(&self) -> Vec<Minimum> {
        vec![Minimum {
            point: [self.a, self.a * self.a],
            value: 0.0,
            global: true,
        }]
    }
}

/// One Gaussian dip of a [`Wells`] surface: `−depth·exp(−|p − center|² / width)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Well {
    /// The centre of the dip.
    pub center: [f32; 2],
    /// How far it goes down.
    pub depth: f32,
    /// How wide it is (the Gaussian's `2σ²`).
    pub width: f32,
}

/// A bumpy landscape: a shallow bowl `bowl·(x² + y²)` with Gaussian dips in
/// it, one deep (the global minimum) and several shallow ones (local minima
/// that trap plain gradient descent).
#[derive(Debug, Clone, PartialEq)]
pub struct Wells {
    /// The bowl's steepness.
    pub bowl: f32,
    /// The dips.
    pub wells: Vec<Well>,
    minima: Vec<Minimum>,
}

impl Wells {
    /// A start in the upper-left corner, uphill of a small dip that lies
    /// between it and the deep well.
    pub const START: [f32; 2] = [-3.5, 3.0];

    /// The landscape of the examples: a bowl with three shallow dips and a
    /// deep one at about (0.96, −0.96).
    ///
    /// Its four minima (located numerically in float64, to the digits given)
    /// are listed by [`Surface::minima`].
    pub fn four_dips() -> Self {
        let well = |x, y, depth, width| Well {
            center: [x, y],
            depth,
            width,
        };
        let minimum = |x, y, value, global| Minimum {
            point: [x, y],
            value,
            global,
        };
        Wells {
            bowl: 0.05,
            wells: vec![
                well(-2.0, 1.5, 0.5, 0.5),
                well(2.0, 2.0, 0.7, 0.6),
                well(-1.5, -2.0, 0.6, 0.6),
                well(1.0, -1.0, 1.5, 1.2),
            ],
            minima: vec![
                minimum(-1.901_978, 1.426_481, -0.202_601, false),
                minimum(1.915_488, 1.914_607, -0.317_249, false),
                minimum(-1.414_82, -1.897_692, -0.308_332, false),
                minimum(0.961_434, -0.961_452, -1.403_855, true),
            ],
        }
    }
}

impl Surface for Wells {
    fn name(&self) -> String {
        format!("a bowl with {} dips", self.wells.len())
    }

    fn eval<'t>(&self, x: Var<'t>, y: Var<'t>) -> Var<'t> {
        let mut f = (x * x + y * y) * self.bowl;
        for well in &self.wells {
            let dx = x - well.center[0];
            let dy = y - well.center[1];
            let dip = ((dx * dx + dy * dy) * (-1.0 / well.width)).exp() * well.depth;
            f = f - dip;
        }
        f
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            x: (-4.0, 4.0),
            y: (-4.0, 4.0),
        }
    }

    fn minima(&self) -> Vec<Minimum> {
        self.minima.clone()
    }
}
