//! Arithmetic operators for `Var`, so that formulas read as math: `&a + &b`,
//! `x * 2.0`, `1.0 - y`.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::Var;

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $implementation:ident) => {
        impl<'t> $trait<Var<'t>> for Var<'t> {
            type Output = Var<'t>;
            fn $method(self, other: Var<'t>) -> Var<'t> {
                Var::$implementation(self, other)
            }
        }
        impl<'t> $trait<&Var<'t>> for Var<'t> {
            type Output = Var<'t>;
            fn $method(self, other: &Var<'t>) -> Var<'t> {
                Var::$implementation(self, *other)
            }
        }
        impl<'t> $trait<Var<'t>> for &Var<'t> {
            type Output = Var<'t>;
            fn $method(self, other: Var<'t>) -> Var<'t> {
                Var::$implementation(*self, other)
            }
        }
        impl<'t> $trait<&Var<'t>> for &Var<'t> {
            type Output = Var<'t>;
            fn $method(self, other: &Var<'t>) -> Var<'t> {
                Var::$implementation(*self, *other)
            }
        }
    };
}

binary_operator!(Add, add, add_var);
binary_operator!(Sub, sub, sub_var);
binary_operator!(Mul, mul, mul_var);
binary_operator!(Div, div, div_var);

macro_rules! scalar_operator {
    ($var:ty) => {
        impl<'t> Add<f32> for $var {
            type Output = Var<'t>;
            fn add(self, scalar: f32) -> Var<'t> {
                self.add_scalar(scalar)
            }
        }
        impl<'t> Add<$var> for f32 {
            type Output = Var<'t>;
            fn add(self, var: $var) -> Var<'t> {
                var.add_scalar(self)
            }
        }
        impl<'t> Sub<f32> for $var {
            type Output = Var<'t>;
            fn sub(self, scalar: f32) -> Var<'t> {
                self.add_scalar(-scalar)
            }
        }
        impl<'t> Sub<$var> for f32 {
            type Output = Var<'t>;
            fn sub(self, var: $var) -> Var<'t> {
                var.negate().add_scalar(self)
            }
        }
        impl<'t> Mul<f32> for $var {
            type Output = Var<'t>;
            fn mul(self, scalar: f32) -> Var<'t> {
                self.mul_scalar(scalar)
            }
        }
        impl<'t> Mul<$var> for f32 {
            type Output = Var<'t>;
            fn mul(self, var: $var) -> Var<'t> {
                var.mul_scalar(self)
            }
        }
        impl<'t> Div<f32> for $var {
            type Output = Var<'t>;
            fn div(self, scalar: f32) -> Var<'t> {
                self.mul_scalar(1.0 / scalar)
            }
        }
        impl<'t> Div<$var> for f32 {
            type Output = Var<'t>;
            fn div(self, var: $var) -> Var<'t> {
                var.powf(-1.0).mul_scalar(self)
            }
        }
    };
}

scalar_operator!(Var<'t>);
scalar_operator!(&Var<'t>);

impl<'t> Neg for Var<'t> {
    type Output = Var<'t>;
    fn neg(self) -> Var<'t> {
        Var::negate(self)
    }
}

impl<'t> Neg for &Var<'t> {
    type Output = Var<'t>;
    fn neg(self) -> Var<'t> {
        Var::negate(*self)
    }
}
