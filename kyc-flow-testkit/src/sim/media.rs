//! Media held in memory, served like the platform would serve it.

use async_trait::async_trait;
use kyc_flow_core::ports::{
    MediaBlob, MediaFetcher, MediaRef, PortError, PortErrorKind, PortResult,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Media by id. Fetch sniffs the type from the bytes, like the real adapter.
#[derive(Debug, Default)]
pub struct MemoryMedia {
    items: Mutex<HashMap<String, Vec<u8>>>,
    next: AtomicU64,
    max_bytes: Option<usize>,
}

impl MemoryMedia {
    /// With a size cap (bigger media fail with [`PortErrorKind::Invalid`]).
    pub fn with_limit(max_bytes: usize) -> Self {
        Self {
            max_bytes: Some(max_bytes),
            ..Self::default()
        }
    }
    /// Store bytes; returns the new media id.
    pub fn add(&self, bytes: Vec<u8>) -> String {
        let id = format!("media-{}", self.next.fetch_add(1, Ordering::SeqCst) + 1);
        self.items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), bytes);
        id
    }
    /// Whether the media is still held (deleted after processing otherwise).
    pub fn contains(&self, id: &str) -> bool {
        self.items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(id)
    }
}

/// The MIME type of `bytes` from its magic number; `application/octet-stream` when unknown.
pub fn sniff_mime(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => "image/png",
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => "image/webp",
        [b'%', b'P', b'D', b'F', b'-', ..] => "application/pdf",
        [
            _,
            _,
            _,
            _,
            b'f',
            b't',
            b'y',
            b'p',
            b'h',
            b'e',
            b'i',
            b'c',
            ..,
        ] => "image/heic",
        _ => "application/octet-stream",
    }
}

#[async_trait]
impl MediaFetcher for MemoryMedia {
    async fn fetch(&self, media: &MediaRef) -> PortResult<MediaBlob> {
        let bytes = self
            .items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&media.media_id)
            .cloned()
            .ok_or_else(|| PortError::new(PortErrorKind::NotFound, "media not found"))?;
        if let Some(max) = self.max_bytes
            && bytes.len() > max
        {
            return Err(PortError::new(
                PortErrorKind::Invalid,
                format!("media larger than {max} bytes"),
            ));
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if let Some(declared) = &media.sha256
            && !declared.eq_ignore_ascii_case(&sha256)
        {
            return Err(PortError::new(
                PortErrorKind::Integrity,
                "media hash differs from the declared one",
            ));
        }
        Ok(MediaBlob {
            mime_type: sniff_mime(&bytes).to_owned(),
            sha256,
            bytes,
        })
    }

    async fn delete(&self, media: &MediaRef) -> PortResult<()> {
        self.items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&media.media_id);
        Ok(())
    }
}
