//! Differentiates a small function with the tape and prints each gradient beside
//! the one derived by hand.
//!
//! f(x, y) = x²·y + eˣ / y + tanh(x·y)
//!
//! ∂f/∂x = 2xy + eˣ/y + y·(1 - tanh²(xy))
//! ∂f/∂y = x² - eˣ/y² + x·(1 - tanh²(xy))
//!
//! Run with `cargo run --release --example autograd`.

use descent::autograd::Tape;
use ndarray::arr0;

fn main() {
    let points = [(0.5f32, 2.0f32), (-1.0, 0.5), (1.5, -3.0)];
    println!(
        "{:>6} {:>6} | {:>10} {:>10} | {:>10} {:>10}",
        "x", "y", "df/dx tape", "by hand", "df/dy tape", "by hand"
    );
    let mut tape = Tape::new();
    for (x0, y0) in points {
        let (dx_tape, dy_tape) = {
            let x = tape.variable(arr0(x0).into_dyn());
            let y = tape.variable(arr0(y0).into_dyn());
            let f = x * x * y + x.exp() / y + (x * y).tanh();
            f.backward();
            (x.grad().unwrap().sum(), y.grad().unwrap().sum())
        };
        tape.reset();

        let sech2 = 1.0 - (x0 * y0).tanh().powi(2);
        let dx_hand = 2.0 * x0 * y0 + x0.exp() / y0 + y0 * sech2;
        let dy_hand = x0 * x0 - x0.exp() / (y0 * y0) + x0 * sech2;
        println!(
            "{x0:>6.2} {y0:>6.2} | {dx_tape:>10.6} {dx_hand:>10.6} | {dy_tape:>10.6} {dy_hand:>10.6}"
        );
        assert!((dx_tape - dx_hand).abs() < 1e-4 && (dy_tape - dy_hand).abs() < 1e-4);
    }
    println!("tape and hand-derived gradients agree");
}
