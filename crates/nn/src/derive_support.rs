//! What `#[derive(Module)]`'s generated code refers to. Not for direct use:
//! the paths may change with the derive.

pub use descent_autograd::Var;

use crate::{Module, Visitor};

/// A `Vec<M>` field seen as one child whose children are named by position,
/// `"0"`, `"1"`, …, as PyTorch's `ModuleList`: a field `blocks` lists
/// `blocks.0.weight`.
///
/// Its `forward` applies the items in order (it is never called by the
/// derive: the model's own `forward` uses the items).
pub struct ModuleList<'a, M>(pub &'a [M]);

impl<M: Module> Module for ModuleList<'_, M> {
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        self.0.iter().fold(input, |x, item| item.forward(x))
    }

    fn visit(&self, visitor: &mut dyn Visitor) {
        // The walks run every step (`zero_grad`): the position is written on
        // the stack rather than into a new `String`.
        let mut digits = [0u8; 20];
        for (index, item) in self.0.iter().enumerate() {
            visitor.module(decimal(index, &mut digits), item);
        }
    }
}

/// `value` in decimal, written at the end of `digits`.
fn decimal(mut value: usize, digits: &mut [u8; 20]) -> &str {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    std::str::from_utf8(&digits[start..]).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn positions_are_written_in_decimal() {
        let mut digits = [0u8; 20];
        for value in [0, 7, 10, 99, 1234, usize::MAX] {
            assert_eq!(decimal(value, &mut digits), value.to_string());
        }
    }
}
