//! Webhook requests: the JSON body and its HMAC-SHA256 signature.
//!
//! A receiver verifies a request by computing
//! `HMAC-SHA256(secret, "{X-Gapwatch-Timestamp}.{raw body}")`, comparing its
//! hex form with `X-Gapwatch-Signature` (after `sha256=`) in constant time,
//! and rejecting timestamps more than a few minutes old. The body's `id` is
//! the same on every retry: receivers deduplicate on it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-Gapwatch-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Gapwatch-Timestamp";
pub const ID_HEADER: &str = "X-Gapwatch-Id";
pub const EVENT_HEADER: &str = "X-Gapwatch-Event";

/// `sha256=<hex>` of HMAC-SHA256(secret, "{timestamp}.{body}").
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", crate::store::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        let sig = signature(b"secret", 1_700_000_000, b"{\"id\":\"x\"}");
        assert!(sig.starts_with("sha256="));
        assert_eq!(sig.len(), 7 + 64);
        assert_eq!(
            sig,
            signature(b"secret", 1_700_000_000, b"{\"id\":\"x\"}"),
            "deterministic"
        );
        assert_ne!(
            sig,
            signature(b"secret", 1_700_000_001, b"{\"id\":\"x\"}"),
            "the timestamp is signed"
        );
        assert_ne!(sig, signature(b"other", 1_700_000_000, b"{\"id\":\"x\"}"));
    }

    #[test]
    fn signature_agrees_with_the_standard_test_vector() {
        // RFC 4231 test case 2: the HMAC primitive itself.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            crate::store::hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
