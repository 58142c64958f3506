//! Reading MNIST-format (IDX) data and batching it.
