//! Which engines the binary runs with.

use crate::simulate::Simulation;

/// Attach the local engines to a simulation when this build has them.
pub fn attach_local_engines(sim: Simulation) -> Simulation {
    sim
}
