//! A transport and a decision sink that keep what they were given.

use async_trait::async_trait;
use kyc_flow_core::PhoneNumberId;
use kyc_flow_core::ports::{
    DecisionNotice, DecisionSink, MessageTransport, OutboundMessage, PortResult, SentMessage,
};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A process-wide order of recorded happenings (sent messages, audit lines), so transcripts
/// interleave them exactly as they happened.
pub fn next_order() -> u64 {
    static ORDER: AtomicU64 = AtomicU64::new(0);
    ORDER.fetch_add(1, Ordering::SeqCst)
}

/// One sent message, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SentRecord {
    /// Position in [`next_order`]'s sequence.
    pub order: u64,
    pub message_id: String,
    pub message: OutboundMessage,
}

/// Records every message instead of sending it.
#[derive(Debug, Default)]
pub struct RecordingTransport {
    sent: Mutex<Vec<SentRecord>>,
    read: Mutex<Vec<String>>,
    next: AtomicU64,
}

impl RecordingTransport {
    /// Everything sent so far.
    pub fn sent(&self) -> Vec<SentRecord> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// Messages sent since index `from` (for incremental transcripts).
    pub fn sent_since(&self, from: usize) -> Vec<SentRecord> {
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.get(from..)
            .map(<[SentRecord]>::to_vec)
            .unwrap_or_default()
    }
    /// Inbound message ids marked as read.
    pub fn read(&self) -> Vec<String> {
        self.read.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl MessageTransport for RecordingTransport {
    async fn send(&self, message: &OutboundMessage) -> PortResult<SentMessage> {
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let message_id = format!("wamid.sim.{n}");
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(SentRecord {
                order: next_order(),
                message_id: message_id.clone(),
                message: message.clone(),
            });
        Ok(SentMessage { message_id })
    }

    async fn mark_read(
        &self,
        _from: &PhoneNumberId,
        message_id: &str,
        _typing: bool,
    ) -> PortResult<()> {
        self.read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message_id.to_owned());
        Ok(())
    }
}

/// Keeps delivered decisions.
#[derive(Debug, Default)]
pub struct RecordingDecisionSink {
    delivered: Mutex<Vec<DecisionNotice>>,
}

impl RecordingDecisionSink {
    /// Every decision delivered so far.
    pub fn delivered(&self) -> Vec<DecisionNotice> {
        self.delivered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl DecisionSink for RecordingDecisionSink {
    async fn deliver(&self, notice: &DecisionNotice) -> PortResult<()> {
        self.delivered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(notice.clone());
        Ok(())
    }
}
