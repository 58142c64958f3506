//! The read-only view of a tape (`Tape::graph`) and the composite layers
//! recorded beside the ops, which the ONNX export reads.

use descent_autograd::{Composite, Op, Parameter, Tape};
use ndarray::ArrayD;

#[test]
fn the_graph_shows_each_op_with_its_inputs_shapes_and_parameters() {
    let weight = Parameter::new(ArrayD::from_elem(vec![3, 2], 0.5));
    let tape = Tape::new();
    let x = tape.variable(ArrayD::from_elem(vec![4, 2], 1.0));
    let w = tape.parameter(&weight);
    let y = (x.linear(w, None) + 2.0).sum_axis(1, true);
    let c = tape.constant(ArrayD::from_elem(vec![1], 3.0));
    let folded = c * 2.0; // no input takes a gradient: a constant leaf
    let graph = tape.graph();
    assert_eq!(graph.len(), 7);
    assert!(matches!(graph.op(x.node()), Op::Leaf));
    assert!(graph.parameter(w.node()).unwrap().same_as(&weight));
    assert!(graph.parameter(x.node()).is_none());
    let linear = x.node() + 2;
    assert!(matches!(
        graph.op(linear),
        Op::Linear { input, weight: read, bias: None, relu: false } if *input == x.node() && *read == w.node()
    ));
    assert!(matches!(graph.op(linear + 1), Op::AddScalar(_, scalar) if *scalar == 2.0));
    assert_eq!(graph.inputs(y.node()), [linear + 1]);
    assert_eq!(graph.shape(y.node()), [4, 1]);
    assert!(matches!(graph.op(folded.node()), Op::Leaf));
    assert_eq!(
        graph.value(folded.node()).into_raw_vec_and_offset().0,
        [6.0]
    );
    assert_eq!(graph.op(y.node()).name(), "sum");
    // The layer of an op, as anomaly reports name it.
    let (parameters, after) = graph.layer_parameters(y.node());
    assert!(parameters[0].same_as(&weight) && after);
}

#[test]
fn composites_are_recorded_with_recording_on_and_forgotten_on_reset() {
    let mut tape = Tape::new();
    {
        let x = tape.variable(ArrayD::from_elem(vec![2, 2], 1.0));
        let first = tape.len();
        let y = x * 3.0;
        let composite = Composite::LayerNorm {
            input: x.node(),
            weight: None,
            bias: None,
            eps: 1e-5,
        };
        tape.record_composite(composite.clone(), first, y);
        tape.set_grad_enabled(false);
        tape.record_composite(composite, first, y);
        let graph = tape.graph();
        assert_eq!(graph.composites().len(), 1);
        assert_eq!(graph.composites()[0].first_node, first);
        assert_eq!(graph.composites()[0].output, y.node());
    }
    tape.reset();
    assert!(tape.graph().composites().is_empty());
}
