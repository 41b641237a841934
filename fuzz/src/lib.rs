//! Helpers shared by the fuzz targets: one RSA key, generated once per
//! process, and a way to sign arbitrary bytes with it, so that the fuzzer
//! reaches the header and claim parsing that sits behind the signature check
//! (an unsigned token never gets that far).

use autopmo_crypto::jws::{PublicKey, RsaBits, SigningKey};
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::OnceLock;

struct Keys {
    signing: SigningKey,
    raw: KeyPair,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let signing = SigningKey::generate(RsaBits::Rsa2048).expect("an RSA key");
        let der = signing.to_pkcs8_der().expect("the key as PKCS#8");
        let raw = KeyPair::from_pkcs8(&der).expect("aws-lc-rs reads its own PKCS#8");
        Keys { signing, raw }
    })
}

/// The `kid` of the fuzzing key.
pub fn kid() -> &'static str {
    keys().signing.kid()
}

/// The verifying half of the fuzzing key.
pub fn public_key() -> PublicKey {
    keys().signing.public_key()
}

/// A key lookup that knows only the fuzzing key.
pub fn ours(kid: &str) -> Option<PublicKey> {
    (kid == self::kid()).then(public_key)
}

/// A key lookup that answers with the fuzzing key whatever the `kid`, so
/// that a wrong `kid` is not what stops a token.
pub fn any_kid(_kid: &str) -> Option<PublicKey> {
    Some(public_key())
}

/// `base64url(header) . base64url(payload) . signature`, with a valid RS256
/// signature by the fuzzing key over whatever bytes were given.
pub fn sign_parts(header: &[u8], payload: &[u8]) -> String {
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let keys = keys();
    let mut signature = vec![0u8; keys.raw.public_modulus_len()];
    let rng = aws_lc_rs::rand::SystemRandom::new();
    keys.raw.sign(&RSA_PKCS1_SHA256, &rng, token.as_bytes(), &mut signature).expect("RSA signing");
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}

/// A header object as the product writes it, for `typ`, with our `kid`.
pub fn header(typ: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"alg": "RS256", "typ": typ, "kid": kid()})).expect("JSON")
}
