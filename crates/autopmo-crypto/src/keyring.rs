//! The server's long-lived keys, on disk in the data directory.

use crate::seal::{DataKey, open_with, seal_with};
use crate::{CryptoError, random_bytes};
use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const FILE: &str = "keyring.json";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringFile {
    kek: Vec<StoredKey>,
    signing: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    id: String,
    /// base64url: 32 raw bytes (KEK) or a PKCS#8 document (Ed25519).
    material: String,
}

struct Kek {
    id: String,
    key: LessSafeKey,
}

/// The server's keys. The last key of each kind is the active one; older
/// ones stay to open what they sealed and to check what they signed.
pub struct Keyring {
    keks: Vec<Kek>,
    signing: Vec<(String, Ed25519KeyPair)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("kek_ids", &self.keks.iter().map(|k| k.id.as_str()).collect::<Vec<_>>())
            .field("signing_ids", &self.signing.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

/// A detached signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Which signing key.
    pub key_id: String,
    /// base64url signature bytes.
    pub value: String,
}

/// A public signing key, for export with checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicSigningKey {
    /// Key id.
    pub key_id: String,
    /// base64url raw Ed25519 public key.
    pub public_key: String,
}

fn key_id(prefix: &str) -> Result<String, CryptoError> {
    let bytes = random_bytes::<6>()?;
    Ok(format!("{prefix}-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> CryptoError {
    CryptoError::Keyring { path: path.display().to_string(), reason: e.to_string() }
}

impl Keyring {
    /// Fresh keys, in memory only (tests, tools).
    pub fn generate() -> Result<Self, CryptoError> {
        let file = Self::new_file()?;
        Self::from_file(&file)
    }

    fn new_file() -> Result<KeyringFile, CryptoError> {
        let kek = Zeroizing::new(random_bytes::<32>()?);
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| CryptoError::Random)?;
        Ok(KeyringFile {
            kek: vec![StoredKey { id: key_id("kek")?, material: URL_SAFE_NO_PAD.encode(kek.as_slice()) }],
            signing: vec![StoredKey { id: key_id("sig")?, material: URL_SAFE_NO_PAD.encode(pkcs8.as_ref()) }],
        })
    }

    fn from_file(file: &KeyringFile) -> Result<Self, CryptoError> {
        let bad = |what: &str| CryptoError::Keyring { path: FILE.to_owned(), reason: format!("invalid {what}") };
        let keks = file
            .kek
            .iter()
            .map(|k| {
                let raw = Zeroizing::new(URL_SAFE_NO_PAD.decode(&k.material).map_err(|_| bad("key-encryption key"))?);
                let key = UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| bad("key-encryption key"))?;
                Ok(Kek { id: k.id.clone(), key: LessSafeKey::new(key) })
            })
            .collect::<Result<Vec<_>, CryptoError>>()?;
        let signing = file
            .signing
            .iter()
            .map(|k| {
                let raw = Zeroizing::new(URL_SAFE_NO_PAD.decode(&k.material).map_err(|_| bad("signing key"))?);
                let pair = Ed25519KeyPair::from_pkcs8(&raw).map_err(|_| bad("signing key"))?;
                Ok((k.id.clone(), pair))
            })
            .collect::<Result<Vec<_>, CryptoError>>()?;
        if keks.is_empty() || signing.is_empty() {
            return Err(bad("keyring: no keys"));
        }
        Ok(Self { keks, signing })
    }

    /// Opens `dir/keyring.json`, creating the directory (0700) and a new
    /// keyring (0600) when there is none.
    pub fn open_or_create(dir: &Path) -> Result<Self, CryptoError> {
        let path = dir.join(FILE);
        if path.exists() {
            check_private(&path)?;
            let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?);
            let file: KeyringFile = serde_json::from_str(&text).map_err(|e| io_error(&path, e))?;
            return Self::from_file(&file);
        }
        create_private_dir(dir)?;
        let file = Self::new_file()?;
        write_private(&path, &file)?;
        Self::from_file(&file)
    }

    /// Wraps a data key under the active key-encryption key: `kek_id:sealed`.
    pub fn wrap(&self, key: &DataKey, subject: &str) -> Result<(String, String), CryptoError> {
        let kek = self.keks.last().ok_or(CryptoError::UnknownKey("active".to_owned()))?;
        Ok((kek.id.clone(), seal_with(&kek.key, key.as_bytes(), subject.as_bytes())?))
    }

    /// Unwraps a data key wrapped by [`wrap`](Self::wrap).
    pub fn unwrap_key(&self, kek_id: &str, wrapped: &str, subject: &str) -> Result<DataKey, CryptoError> {
        let kek =
            self.keks.iter().find(|k| k.id == kek_id).ok_or_else(|| CryptoError::UnknownKey(kek_id.to_owned()))?;
        let raw = Zeroizing::new(open_with(&kek.key, wrapped, subject.as_bytes())?);
        let bytes: [u8; 32] =
            raw.as_slice().try_into().map_err(|_| CryptoError::Open("wrapped key has the wrong length"))?;
        Ok(DataKey::from_bytes(bytes))
    }

    /// Seals a server secret (e.g. a token signing key) under the active
    /// key-encryption key, bound to `context`: `(kek_id, sealed)`.
    pub fn seal_secret(&self, secret: &[u8], context: &str) -> Result<(String, String), CryptoError> {
        let kek = self.keks.last().ok_or(CryptoError::UnknownKey("active".to_owned()))?;
        Ok((kek.id.clone(), seal_with(&kek.key, secret, context.as_bytes())?))
    }

    /// Opens what [`seal_secret`](Self::seal_secret) sealed.
    pub fn open_secret(&self, kek_id: &str, sealed: &str, context: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let kek =
            self.keks.iter().find(|k| k.id == kek_id).ok_or_else(|| CryptoError::UnknownKey(kek_id.to_owned()))?;
        Ok(Zeroizing::new(open_with(&kek.key, sealed, context.as_bytes())?))
    }

    /// Signs `message` with the active signing key.
    pub fn sign(&self, message: &[u8]) -> Result<Signature, CryptoError> {
        let (id, pair) = self.signing.last().ok_or(CryptoError::UnknownKey("signing".to_owned()))?;
        Ok(Signature { key_id: id.clone(), value: URL_SAFE_NO_PAD.encode(pair.sign(message).as_ref()) })
    }

    /// A 256-bit key for `label`, the same on every replica that shares the
    /// keyring and unknowable without its private signing key (Ed25519
    /// signatures are deterministic: the key is the SHA-256 of the oldest
    /// signing key's signature over the label).
    pub fn derive_key(&self, label: &str) -> [u8; 32] {
        match self.signing.first() {
            Some((_, pair)) => {
                crate::digest::sha256(pair.sign(format!("autopmo-derive-key:{label}").as_bytes()).as_ref())
            }
            None => unreachable!("a keyring is never built without a signing key (from_file refuses it)"),
        }
    }

    /// Every public signing key (for verifiers and exports).
    pub fn public_keys(&self) -> Vec<PublicSigningKey> {
        self.signing
            .iter()
            .map(|(id, pair)| PublicSigningKey {
                key_id: id.clone(),
                public_key: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            })
            .collect()
    }

    /// Checks a signature made by one of this keyring's signing keys.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        self.public_keys()
            .iter()
            .any(|k| k.key_id == signature.key_id && verify_signature(k, message, &signature.value))
    }
}

/// Checks an Ed25519 signature against an exported public key.
pub fn verify_signature(key: &PublicSigningKey, message: &[u8], signature: &str) -> bool {
    let (Ok(public), Ok(sig)) = (URL_SAFE_NO_PAD.decode(&key.public_key), URL_SAFE_NO_PAD.decode(signature)) else {
        return false;
    };
    UnparsedPublicKey::new(&ED25519, public).verify(message, &sig).is_ok()
}

fn create_private_dir(dir: &Path) -> Result<(), CryptoError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| io_error(dir, e))
}

fn check_private(path: &Path) -> Result<(), CryptoError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(|e| io_error(path, e))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(io_error(
                path,
                format!("mode {:o} lets others read the keys; run chmod 600 on it", mode & 0o777),
            ));
        }
    }
    Ok(())
}

fn write_private(path: &Path, file: &KeyringFile) -> Result<(), CryptoError> {
    let text = Zeroizing::new(serde_json::to_string_pretty(file).map_err(|e| io_error(path, e))?);
    let tmp: PathBuf = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let _ = std::fs::remove_file(&tmp);
    {
        use std::io::Write;
        let mut f = options.open(&tmp).map_err(|e| io_error(&tmp, e))?;
        f.write_all(text.as_bytes()).map_err(|e| io_error(&tmp, e))?;
        f.sync_all().map_err(|e| io_error(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_and_reopened_identical() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let ring = Keyring::open_or_create(&keys).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o700);
            assert_eq!(std::fs::metadata(keys.join(FILE)).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let data = DataKey::generate().unwrap();
        let (kek_id, wrapped) = ring.wrap(&data, "user:1").unwrap();
        let sealed = data.seal(b"secret", "user:1").unwrap();
        let again = Keyring::open_or_create(&keys).unwrap();
        let unwrapped = again.unwrap_key(&kek_id, &wrapped, "user:1").unwrap();
        assert_eq!(unwrapped.open(&sealed, "user:1").unwrap(), b"secret");
        assert!(again.unwrap_key(&kek_id, &wrapped, "user:2").is_err());
        let sig = ring.sign(b"checkpoint").unwrap();
        assert!(again.verify(b"checkpoint", &sig));
        assert!(!again.verify(b"checkpoint!", &sig));
        assert!(!format!("{ring:?}").contains(&wrapped));
    }

    #[test]
    fn a_readable_keyring_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        Keyring::open_or_create(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path().join(FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = Keyring::open_or_create(dir.path()).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
    }
}
