//! Per-person data keys and the sealed-text format `v1.<base64url(nonce ‖ ciphertext ‖ tag)>`.

use crate::{CryptoError, random_bytes};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

const PREFIX: &str = "v1.";

/// A 256-bit AES-GCM key for one person's data.
pub struct DataKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl Clone for DataKey {
    fn clone(&self) -> Self {
        Self { bytes: Zeroizing::new(*self.bytes) }
    }
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self { bytes: Zeroizing::new(random_bytes::<32>()?) })
    }

    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self { bytes: Zeroizing::new(bytes) }
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    fn key(&self) -> Result<LessSafeKey, CryptoError> {
        UnboundKey::new(&AES_256_GCM, self.bytes.as_slice())
            .map(LessSafeKey::new)
            .map_err(|_| CryptoError::Open("bad key"))
    }

    /// Encrypts `plaintext`, bound to `context` (e.g. the subject id).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, CryptoError> {
        seal_with(&self.key()?, plaintext, context.as_bytes())
    }

    /// Decrypts what [`seal`](Self::seal) made with the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.key()?, sealed, context.as_bytes())
    }
}

pub(crate) fn seal_with(key: &LessSafeKey, plaintext: &[u8], aad: &[u8]) -> Result<String, CryptoError> {
    let nonce_bytes = random_bytes::<NONCE_LEN>()?;
    let mut buffer = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(aad), &mut buffer)
        .map_err(|_| CryptoError::Open("seal failed"))?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&buffer);
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
}

pub(crate) fn open_with(key: &LessSafeKey, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let body = sealed.strip_prefix(PREFIX).ok_or(CryptoError::Open("unknown format"))?;
    let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| CryptoError::Open("not base64"))?;
    if bytes.len() < NONCE_LEN + 16 {
        return Err(CryptoError::Open("too short"));
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open("bad nonce"))?;
    let mut buffer = ciphertext.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut buffer)
        .map_err(|_| CryptoError::Open("authentication failed"))?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal(b"alice@example.org", "user:1").unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("alice"));
        assert_eq!(key.open(&sealed, "user:1").unwrap(), b"alice@example.org");
        // Another subject, another key, or a flipped bit: refused.
        assert!(key.open(&sealed, "user:2").is_err());
        assert!(DataKey::generate().unwrap().open(&sealed, "user:1").is_err());
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(key.open(std::str::from_utf8(&tampered).unwrap(), "user:1").is_err());
        // Two seals of the same text differ (fresh nonce).
        assert_ne!(key.seal(b"x", "c").unwrap(), key.seal(b"x", "c").unwrap());
    }
}
