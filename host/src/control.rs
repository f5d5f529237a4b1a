//! The control plane (placeholder until written).
