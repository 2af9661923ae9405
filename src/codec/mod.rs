//! Pure conversions between JSON values and what is stored in Redis. No I/O, no napi.

pub mod event;
pub mod filter;
pub mod hash;
pub mod path;
pub mod scalar;
