//! Sessions: one user's onboarding in progress or decided.
//!
//! PLACEHOLDER SHAPE — the core's owner fleshes this out (state, attempts, evidence, …).
//! Adapters only rely on: `Session` is `Clone + Debug + Serialize + Deserialize`, has `key`,
//! `seq` and `schema`; `Decision` is the final outcome.

use crate::ids::SessionKey;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Version of the serialized session layout.
pub const SCHEMA_VERSION: u16 = 1;

/// Why a session ended the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionReason {
    AllChecksPassed,
    ConsentDeclined,
    UserCancelled,
    Inactivity,
    TooManyRetakes,
    DocumentExpired,
    Underage,
    DataMismatch,
    FaceMismatch,
    NotLive,
    RegistryExpired,
    RegistryLostOrStolen,
    RegistryCancelled,
    RegistryDeceased,
    RegistryNotFound,
    RegistryDataMismatch,
    RegistryUnavailable,
    BorderlineScore,
    LivenessNotCertified,
    OperatorDecision,
}

/// The final outcome of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Approved {
        reasons: Vec<DecisionReason>,
    },
    Rejected {
        reasons: Vec<DecisionReason>,
    },
    ManualReview {
        reasons: Vec<DecisionReason>,
    },
    /// The user declined consent.
    Declined,
    /// The user wrote STOP.
    Cancelled,
    /// No activity until the flow's expiry.
    Expired,
}

/// One onboarding conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub schema: u16,
    pub id: String,
    pub key: SessionKey,
    pub flow_id: String,
    pub flow_version: u32,
    pub seq: u64,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    pub decision: Option<Decision>,
}
