//! A forger's workbench: raw headers and payloads signed any way an attacker
//! could (our key under other algorithms, HMAC keyed with our public key, a
//! stranger's key), with aws-lc-rs directly rather than through the code
//! under test.

use autopmo_crypto::jws::{RsaBits, SigningKey};
use autopmo_identity::tokens::{
    AccessClaims, AccessGrant, KeyRecord, KeySet, RotationPolicy, TokenError, TokenKeys, TokenPolicy, verify_access,
};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaEncoding};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use std::sync::OnceLock;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub const ISSUER: &str = "https://pmo.example.com";

/// The instant every check happens at.
pub fn now() -> OffsetDateTime {
    datetime!(2026-12-04 12:00 UTC)
}

pub fn policy() -> TokenPolicy {
    TokenPolicy::new(ISSUER)
}

/// Our current key, a key retired long enough ago that its tokens are all
/// dead, and a stranger's key.
pub struct Fixture {
    pub keys: TokenKeys,
    pub old: SigningKey,
    pub stranger: SigningKey,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let old = SigningKey::generate(RsaBits::Rsa2048).unwrap();
        let current = SigningKey::generate(RsaBits::Rsa2048).unwrap();
        let stranger = SigningKey::generate(RsaBits::Rsa2048).unwrap();
        let records = vec![
            KeyRecord {
                kid: old.kid().to_owned(),
                created_at: now() - Duration::days(40),
                retired_at: Some(now() - Duration::days(10)),
            },
            KeyRecord { kid: current.kid().to_owned(), created_at: now() - Duration::days(10), retired_at: None },
        ];
        let set = KeySet::new(records, RotationPolicy::for_tokens(&policy())).unwrap();
        let old_again = SigningKey::from_pkcs8_der(&old.to_pkcs8_der().unwrap()).unwrap();
        let keys = TokenKeys::new(set, vec![old_again, current]).unwrap();
        Fixture { keys, old, stranger }
    })
}

/// Our signing key now.
pub fn ours() -> &'static SigningKey {
    fixture().keys.signer(now()).unwrap()
}

/// Verify and validate as the API would, at `now()`.
pub fn check(token: &str) -> Result<AccessClaims, TokenError> {
    let keys = &fixture().keys;
    verify_access(token, &|kid: &str| keys.verifying_key(kid, now()), &policy(), now())
}

pub fn grant() -> AccessGrant {
    AccessGrant {
        sub: "user-1".to_owned(),
        sid: "session-1".to_owned(),
        roles: vec!["project_manager".to_owned()],
        amr: vec!["pwd".to_owned(), "otp".to_owned()],
        auth_time: now() - Duration::minutes(5),
    }
}

/// Valid access claims at `now()`, as JSON to be bent.
pub fn claims() -> Value {
    let claims = AccessClaims::new(&policy(), &grant(), "jti-1", now() - Duration::minutes(1));
    serde_json::to_value(claims).unwrap()
}

/// `claims()` with `f` applied.
pub fn claims_with(f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims();
    f(c.as_object_mut().unwrap());
    c
}

/// The header we issue, for `kid`.
pub fn header_for(kid: &str) -> Value {
    json!({"alg": "RS256", "typ": "at+jwt", "kid": kid})
}

pub fn header() -> Value {
    header_for(ours().kid())
}

/// `header()` with `f` applied.
pub fn header_with(f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut h = header();
    f(h.as_object_mut().unwrap());
    h
}

/// How a forged token is signed.
pub enum Sig<'a> {
    /// RSA under any padding/digest, with a key's private half.
    Rsa(&'a SigningKey, &'static dyn RsaEncoding),
    /// HMAC keyed with the given bytes.
    Hmac(hmac::Algorithm, Vec<u8>),
    /// ECDSA P-256 with a fresh key.
    Es256,
}

pub fn rs256(key: &SigningKey) -> Sig<'_> {
    Sig::Rsa(key, &RSA_PKCS1_SHA256)
}

fn rsa_pair(key: &SigningKey) -> RsaKeyPair {
    RsaKeyPair::from_pkcs8(&key.to_pkcs8_der().unwrap()).unwrap()
}

/// Signs `signing_input` as told.
pub fn signature(signing_input: &[u8], sig: &Sig<'_>) -> Vec<u8> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    match sig {
        Sig::Rsa(key, encoding) => {
            let pair = rsa_pair(key);
            let mut out = vec![0u8; pair.public_modulus_len()];
            pair.sign(*encoding, &rng, signing_input, &mut out).unwrap();
            out
        }
        Sig::Hmac(alg, secret) => hmac::sign(&hmac::Key::new(*alg, secret), signing_input).as_ref().to_vec(),
        Sig::Es256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
            pair.sign(&rng, signing_input).unwrap().as_ref().to_vec()
        }
    }
}

/// `b64(header).b64(payload).b64(signature)` from raw bytes.
pub fn forge_raw(header: &[u8], payload: &[u8], sig: &Sig<'_>) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let signature = signature(input.as_bytes(), sig);
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A token from JSON header and claims.
pub fn forge(header: &Value, payload: &Value, sig: &Sig<'_>) -> String {
    forge_raw(&serde_json::to_vec(header).unwrap(), &serde_json::to_vec(payload).unwrap(), sig)
}

/// A token exactly as the server issues it.
pub fn valid() -> String {
    forge(&header(), &claims(), &rs256(ours()))
}

/// The parts of a token.
pub fn parts(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    let (h, p, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    (h.to_owned(), p.to_owned(), s.to_owned())
}

/// Our public key as an attacker finds it: SPKI PEM, SPKI DER, PKCS#1 DER, JWK JSON.
pub struct PublicForms {
    pub pem: Vec<u8>,
    pub spki_der: Vec<u8>,
    pub pkcs1_der: Vec<u8>,
    pub jwk_json: Vec<u8>,
}

pub fn public_forms() -> PublicForms {
    let pair = rsa_pair(ours());
    let public = pair.public_key();
    let spki_der = public.as_der().unwrap().as_ref().to_vec();
    let body = STANDARD.encode(&spki_der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"));
    PublicForms {
        pem: pem.into_bytes(),
        spki_der,
        pkcs1_der: public.as_ref().to_vec(),
        jwk_json: serde_json::to_vec(&ours().public_jwk()).unwrap(),
    }
}

/// A validly signed token padded (with a filler claim, and a filler header
/// member if need be) to exactly `len` bytes.
pub fn signed_of_length(len: usize) -> String {
    let b64_len = |n: usize| (4 * n).div_ceil(3);
    let signature_len = b64_len(ours().public_key().bits() / 8);
    for header_fill in 0..4 {
        let h = header_with(|h| {
            h.insert("x".to_owned(), json!("h".repeat(header_fill)));
        });
        let header_len = serde_json::to_vec(&h).unwrap().len();
        let unfilled = claims_with(|c| {
            c.insert("filler".to_owned(), json!(""));
        });
        let payload_len = serde_json::to_vec(&unfilled).unwrap().len();
        for fill in 0..len {
            let total = b64_len(header_len) + 1 + b64_len(payload_len + fill) + 1 + signature_len;
            if total == len {
                let c = claims_with(|c| {
                    c.insert("filler".to_owned(), json!("p".repeat(fill)));
                });
                let token = forge(&h, &c, &rs256(ours()));
                assert_eq!(token.len(), len);
                return token;
            }
            if total > len {
                break;
            }
        }
    }
    panic!("no token of length {len}");
}
