//! The CRI plugin's bookkeeping, as containerd's CRI keeps it: names
//! reserved per pod and container ([`names`]), ids found by unique prefix
//! ([`ids`]), and the List* filters ([`filters`]).

pub mod filters;
pub mod ids;
pub mod names;
