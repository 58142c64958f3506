//! The article's program, written with descent: fit a line `y = m·x + b` to
//! five points by gradient descent on the mean squared error.
//!
//! The article computes the two partial derivatives by hand with NumPy:
//!
//! ```python
//! X = np.array([1, 2, 3, 4, 5]); y = np.array([2, 4, 5, 4, 5])
//! m = 0; b = 0; learning_rate = 0.01; num_iterations = 1000
//! for i in range(num_iterations):
//!     y_pred = m * X + b
//!     dm = (-2/X.size) * np.sum(X * (y - y_pred))
//!     db = (-2/X.size) * np.sum(y - y_pred)
//!     m = m - learning_rate * dm
//!     b = b - learning_rate * db
//! print(f"Final m: {m}, Final b: {b}")
//! ```
//!
//! Here the tape differentiates the loss `mean((y − (m·x + b))²)`, which
//! gives the same `dm` and `db`, and descent's `Sgd` makes the same update
//! (`descent::teaching::fit_line`). NumPy prints `Final m: 0.6176946148762643,
//! Final b: 2.136116825825789` (float64); descent, in float32, agrees to
//! better than 1e-4.
//!
//! Run with `cargo run --release --example linear_regression`.

use descent::teaching::fit_line;

fn main() {
    let x = [1.0f32, 2.0, 3.0, 4.0, 5.0];
    let y = [2.0f32, 4.0, 5.0, 4.0, 5.0];
    let line = fit_line(&x, &y, 0.01, 1000);
    println!("Final m: {}, Final b: {}", line.m, line.b);
}
