//! A capture step's lifecycle as a rust-fsm machine: awaiting → processing → retake | done.
//!
//! This is the part of a session that *is* a finite-state machine with a fixed alphabet, so it
//! is written as rust-fsm's pair of pure functions ([`StateMachineImpl::transition`] and
//! [`StateMachineImpl::output`]). The transition function in [`crate::machine`] asks it whether
//! an input is legal in the current [`Phase`] and what to do next; an input the machine refuses
//! (a result while awaiting a photo, a second acceptance) is ignored and audited.
//!
//! The rest of a session does not fit rust-fsm: its states carry data (step index, attempts,
//! evidence, counters), transitions depend on a flow loaded at run time (limits, thresholds,
//! step order) and outputs are lists of commands built from that data. rust-fsm's states and
//! inputs are fixed enums compared by value, so encoding a flow there would mean one enum per
//! flow. See `docs/FLOWS.md`.

use crate::session::Phase;
use rust_fsm::{StateMachine, StateMachineImpl};

/// What can happen to a capture step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaptureInput {
    /// The user sent a usable photo.
    Submitted,
    /// The engine accepted the photo (and the flow's thresholds passed).
    Accepted,
    /// The engine or the thresholds asked for a retake.
    Rejected,
    /// The engine failed, or the analysis never came back.
    Failed,
    /// The user deleted the photo.
    Revoked,
}

/// What the runtime must do after a lifecycle transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaptureOutput {
    /// Analyse the new photo.
    Analyse,
    /// Move to the next step.
    Advance,
    /// Ask for another photo with a reason.
    PromptRetake,
}

/// The capture lifecycle machine.
#[derive(Debug, Clone, Copy)]
pub struct CaptureLifecycle;

impl StateMachineImpl for CaptureLifecycle {
    type Input = CaptureInput;
    type State = Phase;
    type Output = CaptureOutput;
    const INITIAL_STATE: Phase = Phase::Awaiting;

    fn transition(state: &Phase, input: &CaptureInput) -> Option<Phase> {
        use CaptureInput as I;
        use Phase as P;
        match (state, input) {
            // Another photo while one is in flight (a burst): the step stays in processing.
            (P::Awaiting | P::Retake | P::Processing, I::Submitted) => Some(P::Processing),
            (P::Processing, I::Accepted) => Some(P::Done),
            (P::Processing, I::Rejected | I::Failed) => Some(P::Retake),
            // Deleting the photo in flight or an accepted one reopens the step.
            (P::Processing | P::Done, I::Revoked) => Some(P::Retake),
            _ => None,
        }
    }

    fn output(state: &Phase, input: &CaptureInput) -> Option<CaptureOutput> {
        use CaptureInput as I;
        Some(match (state, input) {
            (_, I::Submitted) => CaptureOutput::Analyse,
            (_, I::Accepted) => CaptureOutput::Advance,
            (_, I::Rejected | I::Failed | I::Revoked) => CaptureOutput::PromptRetake,
        })
    }
}

/// Feed `input` to a capture step in `phase`: the next phase and what to do, or `None` when the
/// input makes no sense in this phase.
pub fn capture(phase: Phase, input: CaptureInput) -> Option<(Phase, Option<CaptureOutput>)> {
    let mut m: StateMachine<CaptureLifecycle> = StateMachine::from_state(phase);
    let out = m.consume(&input).ok()?;
    Some((*m.state(), out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awaiting_processing_retake_done() {
        let (p, o) = capture(Phase::Awaiting, CaptureInput::Submitted).unwrap();
        assert_eq!((p, o), (Phase::Processing, Some(CaptureOutput::Analyse)));
        let (p, o) = capture(p, CaptureInput::Rejected).unwrap();
        assert_eq!((p, o), (Phase::Retake, Some(CaptureOutput::PromptRetake)));
        let (p, _) = capture(p, CaptureInput::Submitted).unwrap();
        let (p, o) = capture(p, CaptureInput::Accepted).unwrap();
        assert_eq!((p, o), (Phase::Done, Some(CaptureOutput::Advance)));
    }

    #[test]
    fn results_outside_processing_are_refused() {
        for phase in [Phase::Awaiting, Phase::Retake, Phase::Done] {
            assert_eq!(capture(phase, CaptureInput::Accepted), None);
            assert_eq!(capture(phase, CaptureInput::Rejected), None);
            assert_eq!(capture(phase, CaptureInput::Failed), None);
        }
        assert_eq!(capture(Phase::Done, CaptureInput::Submitted), None);
        assert_eq!(capture(Phase::Awaiting, CaptureInput::Revoked), None);
    }
}
