//! Recovery codes: single-use codes, given to the user once at MFA
//! enrolment, that stand in for a lost authenticator.
//!
//! A code is `xxxxx-xxxxx-xxxxx`: 15 symbols of Crockford's lower-case
//! base32 alphabet (`0`–`9` and the letters without `i`, `l`, `o`, `u`), so
//! 75 random bits, with nothing that reads as something else. Show the
//! [`generate`]d codes once, store only their [`hash`]es, and delete a hash
//! when its code is used.
//!
//! The hash is an HMAC-SHA-256 under a server-side key (a pepper kept in the
//! keyring, not in the database): a database dump alone does not allow
//! guessing codes offline. Because the hash is keyed and the codes are long
//! and random, a hash can be looked up directly, and no slow password hash
//! is needed.

use autopmo_crypto::{hmac_sha256, random_bytes};

use super::MfaError;

/// How many codes a user gets.
pub const DEFAULT_COUNT: usize = 10;
/// Random bits per code.
pub const ENTROPY_BITS: u32 = 75;

/// Crockford's base32 symbols in lower case: no `i`, `l`, `o` or `u`.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Symbols per code, each carrying 5 bits.
const SYMBOLS: usize = 15;
/// Symbols between dashes.
const GROUP: usize = 5;

/// `count` distinct new codes, `xxxxx-xxxxx-xxxxx`, each with
/// [`ENTROPY_BITS`] random bits.
pub fn generate(count: usize) -> Result<Vec<String>, MfaError> {
    let mut codes: Vec<String> = Vec::with_capacity(count);
    while codes.len() < count {
        let code = one()?;
        // A repeat within one batch is all but impossible at 75 bits; a batch never holds one anyway.
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    Ok(codes)
}

fn one() -> Result<String, MfaError> {
    // Each byte gives one symbol from its low 5 bits: 256 is a multiple of 32, so every symbol is as likely.
    let bytes = random_bytes::<SYMBOLS>()?;
    let mut code = String::with_capacity(SYMBOLS + SYMBOLS / GROUP);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 && i % GROUP == 0 {
            code.push('-');
        }
        code.push(ALPHABET.get(usize::from(byte & 0x1f)).map_or('0', |&symbol| char::from(symbol)));
    }
    Ok(code)
}

/// The code as typed, reduced to what identifies it: lower case, without
/// whitespace or dashes, and with the letters Crockford's base32 reads as
/// digits mapped to them (`o` → `0`, `i` and `l` → `1`). Anything else is
/// kept, so a mistyped code stays wrong.
pub fn normalize(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        })
        .collect()
}

/// The hex HMAC-SHA-256 under `key` of the [`normalize`]d code: what is
/// stored, and what a typed code is looked up by.
pub fn hash(key: &[u8; 32], code: &str) -> String {
    hmac_sha256(key, normalize(code).as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn well_formed(code: &str) -> bool {
        let groups: Vec<&str> = code.split('-').collect();
        groups.len() == 3
            && groups.iter().all(|group| group.len() == GROUP && group.bytes().all(|b| ALPHABET.contains(&b)))
    }

    #[test]
    fn ten_distinct_well_formed_codes() {
        let codes = generate(DEFAULT_COUNT).unwrap();
        assert_eq!(codes.len(), 10);
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 17, "{code}");
            assert!(well_formed(code), "{code}");
            assert_eq!(normalize(code).len(), 15);
        }
        assert!(generate(0).unwrap().is_empty());
        // Another batch shares nothing with the first.
        let again = generate(DEFAULT_COUNT).unwrap();
        assert!(again.iter().all(|code| !codes.contains(code)));
    }

    #[test]
    fn entropy_is_at_least_60_bits() {
        let bits_per_symbol = ALPHABET.len().ilog2();
        assert_eq!(1 << bits_per_symbol, ALPHABET.len());
        assert_eq!(bits_per_symbol * SYMBOLS as u32, ENTROPY_BITS);
        const { assert!(ENTROPY_BITS >= 60) };
    }

    #[test]
    fn alphabet_has_no_look_alikes() {
        assert_eq!(ALPHABET.iter().collect::<HashSet<_>>().len(), 32);
        for look_alike in [b'i', b'l', b'o', b'u'] {
            assert!(!ALPHABET.contains(&look_alike));
        }
        // Over many codes, every symbol turns up: none is stuck or missing.
        let seen: HashSet<char> = generate(100).unwrap().concat().chars().filter(|c| *c != '-').collect();
        assert_eq!(seen.len(), 32);
    }

    #[test]
    fn normalize_ignores_case_spaces_and_dashes() {
        let code = "7k3mq-zx9ab-4r2tv";
        assert_eq!(normalize(code), "7k3mqzx9ab4r2tv");
        for typed in ["7K3MQ-ZX9AB-4R2TV", "7k3mq zx9ab 4r2tv", " 7k3mqzx9ab4r2tv\n", "7k3-mqzx9-ab4r2-tv"] {
            assert_eq!(normalize(typed), normalize(code), "{typed:?}");
        }
        assert_eq!(normalize("OIL-oil"), "011011");
        assert_eq!(normalize(&normalize(code)), normalize(code));
        // Other characters stay, so they do not match.
        assert_ne!(normalize("7k3mq_zx9ab_4r2tv"), normalize(code));
        for code in generate(20).unwrap() {
            assert_eq!(normalize(&code.to_uppercase().replace('-', " ")), normalize(&code));
        }
    }

    #[test]
    fn hash_is_keyed_and_normalized() {
        let key = [1u8; 32];
        let code = "7k3mq-zx9ab-4r2tv";
        let stored = hash(&key, code);
        assert_eq!(stored.len(), 64);
        assert!(stored.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(hash(&key, "7K3MQ ZX9AB 4R2TV"), stored);
        assert_ne!(hash(&[2u8; 32], code), stored);
        assert_ne!(hash(&key, "7k3mq-zx9ab-4r2tw"), stored);
        // The HMAC of the normalized code, not of what was typed.
        let expected: String = hmac_sha256(&key, b"7k3mqzx9ab4r2tv").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(stored, expected);
    }
}
