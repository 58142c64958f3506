//! Layers, initialisers and losses built on the descent autograd tape.
