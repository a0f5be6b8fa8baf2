//! The crate's error type and its mapping onto the ports' [`PortError`].

use kyc_flow_core::ports::{PortError, PortErrorKind};
use redis::{ErrorKind, ServerErrorKind};

/// What can go wrong in the Redis adapters.
///
/// Messages carry no values: no keys in clear, no payloads, no secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// The configuration cannot work (missing or malformed secret, bad URL).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Redis (or the connection to it) failed.
    #[error("redis {}: {}", .0.category(), .0.code().unwrap_or("-"))]
    Redis(#[from] redis::RedisError),
    /// A stored value failed authentication or names an unknown key id.
    #[error("stored value failed its integrity check: {0}")]
    Integrity(&'static str),
    /// A value could not be encoded or decoded.
    #[error("encoding: {0}")]
    Encoding(String),
    /// Redis answered something the adapter did not expect.
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
    /// The job queue is at capacity.
    #[error("job queue at capacity ({capacity})")]
    Full {
        /// The configured capacity.
        capacity: usize,
    },
    /// An operation did not finish in time.
    #[error("timed out")]
    Timeout,
}

impl RedisStoreError {
    /// How the runtime should treat this error.
    pub fn kind(&self) -> PortErrorKind {
        match self {
            Self::Config(_) => PortErrorKind::Invalid,
            Self::Redis(e) => redis_kind(e),
            Self::Integrity(_) => PortErrorKind::Integrity,
            Self::Encoding(_) | Self::Protocol(_) => PortErrorKind::Internal,
            Self::Full { .. } => PortErrorKind::Full,
            Self::Timeout => PortErrorKind::Timeout,
        }
    }

    /// Whether retrying later can succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }
}

fn redis_kind(e: &redis::RedisError) -> PortErrorKind {
    if e.is_timeout() {
        return PortErrorKind::Timeout;
    }
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        return PortErrorKind::Unavailable;
    }
    if e.code() == Some("OOM") {
        // Redis is out of memory: shed load like a full queue.
        return PortErrorKind::Full;
    }
    match e.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask,
        )
        | ErrorKind::ClusterConnectionNotFound => PortErrorKind::Unavailable,
        ErrorKind::AuthenticationFailed | ErrorKind::Server(ServerErrorKind::NoPerm) => {
            PortErrorKind::Unauthorized
        }
        ErrorKind::InvalidClientConfig => PortErrorKind::Invalid,
        _ if e.code() == Some("BUSY") => PortErrorKind::Unavailable,
        _ => PortErrorKind::Internal,
    }
}

impl From<RedisStoreError> for PortError {
    fn from(e: RedisStoreError) -> Self {
        PortError::new(e.kind(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_say_what_to_do() {
        assert_eq!(
            RedisStoreError::Full { capacity: 3 }.kind(),
            PortErrorKind::Full
        );
        assert!(RedisStoreError::Timeout.is_retryable());
        assert!(!RedisStoreError::Integrity("tag mismatch").is_retryable());
        assert!(!RedisStoreError::Config("no key".into()).is_retryable());
        let io =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(RedisStoreError::from(io).kind(), PortErrorKind::Unavailable);
    }
}
