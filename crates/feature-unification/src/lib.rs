//! Nothing to use: this package only asks for dependency features (see its
//! Cargo.toml) so that the builds with and without feature `mpi` share every
//! compiled dependency.
