//! RS256 compact JWS (RFC 7515), written out by hand so that every check
//! RFC 8725 asks for is visible here and nothing else is accepted.
//!
//! Use [`SigningKey::sign`] to issue a token and [`verify`] to check one;
//! what the claims mean (issuer, audience, expiry) is the caller's business
//! (`autopmo_identity::tokens`). There is no I/O: keys come in as PKCS#8 or
//! JWK and go out the same way.
//!
//! [`verify`] accepts only `alg: "RS256"` (exact spelling) with a `kid` that
//! the caller's key lookup knows and the expected `typ`. There is no HMAC and
//! no `none` code path at all, and `jku`, `x5u`, `jwk` and `x5c` headers are
//! never read: a token that brings its own key is refused because its `kid`
//! is not ours. Every refusal is the same [`JwsError`], whose `Display` is
//! the same for all; [`JwsError::reason`] is for the server log only.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    KeyPair, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The longest token [`verify`] looks at, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The only algorithm there is.
pub const ALG: &str = "RS256";

/// Modulus sizes accepted from a JWK, in bytes (2048 to 8192 bits, as the verifier allows).
const MODULUS_BYTES: std::ops::RangeInclusive<usize> = 256..=1024;

/// A token was refused. There is one kind: callers answer every refusal
/// with the same 401 and the same body. [`reason`](Self::reason) says why,
/// for the server log; it never contains anything taken from the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid token")]
pub struct JwsError {
    reason: &'static str,
}

impl JwsError {
    /// Why the token was refused (for the server log, never for the client).
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

fn refuse(reason: &'static str) -> JwsError {
    JwsError { reason }
}

/// A key could not be made, read or used to sign. These are server-side
/// failures (a 500), not token refusals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The system could not generate an RSA key.
    #[error("RSA key generation failed")]
    Generate,
    /// The PKCS#8 document is not an RSA private key of 2048 to 8192 bits.
    #[error("not a usable RSA private key")]
    PrivateKey,
    /// The JWK is not an RSA signature key this verifier can use.
    #[error("not a usable RSA public key: {0}")]
    PublicKey(&'static str),
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Sign(&'static str),
}

/// RSA modulus sizes for new keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaBits {
    /// 2048 bits: fast to generate; enough for keys that rotate monthly.
    Rsa2048,
    /// 3072 bits.
    Rsa3072,
    /// 4096 bits.
    Rsa4096,
}

/// An RSA key pair that signs tokens, with its `kid`. The `kid` is the key's
/// RFC 7638 thumbprint, so it is derived, never stored apart from the key,
/// and two keys cannot share one. `Debug` shows only the `kid`.
pub struct SigningKey {
    pair: RsaKeyPair,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid())
            .field("bits", &self.public.bits())
            .field("private", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    /// A new random key.
    pub fn generate(bits: RsaBits) -> Result<Self, KeyError> {
        let size = match bits {
            RsaBits::Rsa2048 => KeySize::Rsa2048,
            RsaBits::Rsa3072 => KeySize::Rsa3072,
            RsaBits::Rsa4096 => KeySize::Rsa4096,
        };
        let pair = RsaKeyPair::generate(size).map_err(|_| KeyError::Generate)?;
        Self::from_pair(pair)
    }

    /// Reads a key written by [`to_pkcs8_der`](Self::to_pkcs8_der).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| KeyError::PrivateKey)?;
        Self::from_pair(pair)
    }

    fn from_pair(pair: RsaKeyPair) -> Result<Self, KeyError> {
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        let public = PublicKey::from_components(n, e, None).map_err(|_| KeyError::PrivateKey)?;
        Ok(Self { pair, public })
    }

    /// The private key as PKCS#8 DER, for the caller to store sealed.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let der = self.pair.as_der().map_err(|_| KeyError::Sign("cannot encode the private key"))?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }

    /// The key id tokens carry in their `kid` header.
    pub fn kid(&self) -> &str {
        self.public.kid()
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// The public half as a JWK: `{kty, use, alg, kid, n, e}`.
    pub fn public_jwk(&self) -> Value {
        self.public.to_jwk()
    }

    /// Signs `claims` (which must serialize to a JSON object) as a compact
    /// JWS with header `{"alg":"RS256","typ":typ,"kid":kid}`.
    pub fn sign<C: Serialize + ?Sized>(&self, typ: &str, claims: &C) -> Result<String, KeyError> {
        if typ.is_empty() {
            return Err(KeyError::Sign("empty typ"));
        }
        let payload = serde_json::to_value(claims).map_err(|_| KeyError::Sign("claims do not serialize"))?;
        if !payload.is_object() {
            return Err(KeyError::Sign("claims are not a JSON object"));
        }
        let header = Header { alg: ALG, typ, kid: self.kid() };
        let header = serde_json::to_vec(&header).map_err(|_| KeyError::Sign("header does not serialize"))?;
        let payload = serde_json::to_vec(&payload).map_err(|_| KeyError::Sign("claims do not serialize"))?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.pair
            .sign(&RSA_PKCS1_SHA256, &rng, token.as_bytes(), &mut signature)
            .map_err(|_| KeyError::Sign("RSA signing failed"))?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// An RSA public key that verifies RS256 signatures, with its `kid`.
/// Cheap to clone.
#[derive(Clone)]
pub struct PublicKey(Arc<PublicInner>);

struct PublicInner {
    kid: String,
    n: Vec<u8>,
    e: Vec<u8>,
    parsed: ParsedPublicKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey").field("kid", &self.kid()).field("bits", &self.bits()).finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.kid == other.0.kid && self.0.n == other.0.n && self.0.e == other.0.e
    }
}

impl Eq for PublicKey {}

impl PublicKey {
    /// Reads an RSA key from a JWK (another provider's JWKS, for federation).
    /// `kty` must be `RSA`; `alg`, if present, `RS256`; `use`, if present,
    /// `sig`. The `kid` is the JWK's own, or its RFC 7638 thumbprint when it
    /// has none. Certificate members (`x5c`, `x5u`) are ignored.
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let jwk = jwk.as_object().ok_or(KeyError::PublicKey("not a JSON object"))?;
        let text = |name: &str| jwk.get(name).map(|v| v.as_str().ok_or(KeyError::PublicKey("member is not a string")));
        if text("kty").transpose()? != Some("RSA") {
            return Err(KeyError::PublicKey("kty is not RSA"));
        }
        if text("alg").transpose()?.is_some_and(|alg| alg != ALG) {
            return Err(KeyError::PublicKey("alg is not RS256"));
        }
        if text("use").transpose()?.is_some_and(|u| u != "sig") {
            return Err(KeyError::PublicKey("use is not sig"));
        }
        let number = |name: &str| -> Result<Vec<u8>, KeyError> {
            let value = text(name).transpose()?.ok_or(KeyError::PublicKey("n or e missing"))?;
            let bytes = decode_part(value).map_err(|_| KeyError::PublicKey("n or e is not base64url"))?;
            let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
            Ok(bytes.get(start..).unwrap_or_default().to_vec())
        };
        let kid = text("kid").transpose()?.map(str::to_owned);
        if kid.as_deref().is_some_and(str::is_empty) {
            return Err(KeyError::PublicKey("empty kid"));
        }
        Self::from_components(number("n")?, number("e")?, kid)
    }

    fn from_components(n: Vec<u8>, e: Vec<u8>, kid: Option<String>) -> Result<Self, KeyError> {
        if !MODULUS_BYTES.contains(&n.len()) {
            return Err(KeyError::PublicKey("modulus is not 2048 to 8192 bits"));
        }
        if e.is_empty() || e.len() > 4 || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
            return Err(KeyError::PublicKey("unusable public exponent"));
        }
        let parsed = RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .map_err(|_| KeyError::PublicKey("rejected by the RSA implementation"))?;
        let kid = match kid {
            Some(kid) => kid,
            None => thumbprint(&n, &e),
        };
        Ok(Self(Arc::new(PublicInner { kid, n, e, parsed })))
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.0.kid
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        let top = self.0.n.first().map_or(0, |b| 8 - b.leading_zeros() as usize);
        self.0.n.len().saturating_sub(1) * 8 + top
    }

    /// The key as a JWK for the JWKS: `{kty, use, alg, kid, n, e}`.
    pub fn to_jwk(&self) -> Value {
        serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": ALG,
            "kid": self.0.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.0.n),
            "e": URL_SAFE_NO_PAD.encode(&self.0.e),
        })
    }
}

/// A JWK Set document (`/.well-known/jwks.json`) holding `keys`.
pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a PublicKey>) -> Value {
    serde_json::json!({ "keys": keys.into_iter().map(PublicKey::to_jwk).collect::<Vec<_>>() })
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA key.
fn thumbprint(n: &[u8], e: &[u8]) -> String {
    let canonical =
        format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, URL_SAFE_NO_PAD.encode(e), URL_SAFE_NO_PAD.encode(n));
    URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
}

/// The claims of a token whose header and signature [`verify`] accepted.
/// Only `verify` makes one, so code that takes a `VerifiedPayload` knows
/// the signature was checked. The claims are not yet validated.
#[derive(Debug, Clone)]
pub struct VerifiedPayload {
    kid: String,
    claims: Map<String, Value>,
}

impl VerifiedPayload {
    /// The `kid` of the key that signed the token.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The claims object (no key appears twice).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

/// Checks a compact JWS: shape, header, then the RS256 signature under the
/// key `keys` returns for the header's `kid`, then that the payload is a
/// JSON object. `typ` is compared without regard to case or an
/// `application/` prefix (RFC 7515 §4.1.9).
pub fn verify(
    token: &str,
    expected_typ: &str,
    keys: &dyn Fn(&str) -> Option<PublicKey>,
) -> Result<VerifiedPayload, JwsError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(refuse("token longer than 8 KiB"));
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(refuse("not three parts"))?;
    let (header, payload) = signing_input.split_once('.').ok_or(refuse("not three parts"))?;
    if payload.contains('.') {
        return Err(refuse("not three parts"));
    }
    let header = decode_part(header)?;
    let payload = decode_part(payload)?;
    let signature = decode_part(signature)?;

    let header = parse_object(&header).map_err(|reason| refuse(header_reason(reason)))?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == ALG => {}
        _ => return Err(refuse("alg is not RS256")),
    }
    if header.contains_key("crit") {
        return Err(refuse("crit header present"));
    }
    match header.get("typ") {
        Some(Value::String(typ)) if same_typ(typ, expected_typ) => {}
        _ => return Err(refuse("typ is not the expected one")),
    }
    let kid = match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid,
        _ => return Err(refuse("kid missing")),
    };
    let key = keys(kid).ok_or(refuse("unknown kid"))?;
    key.0.parsed.verify_sig(signing_input.as_bytes(), &signature).map_err(|_| refuse("bad signature"))?;

    let claims = parse_object(&payload).map_err(|reason| refuse(payload_reason(reason)))?;
    Ok(VerifiedPayload { kid: kid.clone(), claims })
}

fn same_typ(found: &str, expected: &str) -> bool {
    fn media_type(s: &str) -> String {
        let s = s.to_ascii_lowercase();
        match s.strip_prefix("application/") {
            Some(rest) if !rest.contains('/') => rest.to_owned(),
            _ => s,
        }
    }
    !expected.is_empty() && media_type(found) == media_type(expected)
}

/// Strict base64url: the URL-safe alphabet only, no padding, no whitespace,
/// canonical trailing bits, not empty.
fn decode_part(part: &str) -> Result<Vec<u8>, JwsError> {
    if part.is_empty() {
        return Err(refuse("empty part"));
    }
    if !part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(refuse("not base64url"));
    }
    URL_SAFE_NO_PAD.decode(part).map_err(|_| refuse("not base64url"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonProblem {
    NotJson,
    NotObject,
    DuplicateKey,
}

fn header_reason(problem: JsonProblem) -> &'static str {
    match problem {
        JsonProblem::NotJson => "header is not JSON",
        JsonProblem::NotObject => "header is not a JSON object",
        JsonProblem::DuplicateKey => "duplicate key in header",
    }
}

fn payload_reason(problem: JsonProblem) -> &'static str {
    match problem {
        JsonProblem::NotJson => "payload is not JSON",
        JsonProblem::NotObject => "payload is not a JSON object",
        JsonProblem::DuplicateKey => "duplicate key in payload",
    }
}

const DUPLICATE: &str = "duplicate key";

/// Parses a JSON object, refusing a key that appears twice at any depth
/// (after unescaping, so `"alg"` and `"\u0061lg"` are the same key).
fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonProblem> {
    match serde_json::from_slice::<Strict>(bytes) {
        Ok(Strict(Value::Object(map))) => Ok(map),
        Ok(_) => Err(JsonProblem::NotObject),
        Err(e) if e.to_string().starts_with(DUPLICATE) => Err(JsonProblem::DuplicateKey),
        Err(_) => Err(JsonProblem::NotJson),
    }
}

/// A JSON value read with duplicate keys refused (serde_json keeps the last).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Strict, E> {
        Number::from_f64(v).map(|n| Strict(Value::Number(n))).ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Strict(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Strict, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let Strict(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Strict(Value::Object(map)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn key() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| SigningKey::generate(RsaBits::Rsa2048).unwrap())
    }

    fn ours(kid: &str) -> Option<PublicKey> {
        (kid == key().kid()).then(|| key().public_key())
    }

    #[test]
    fn signs_and_verifies() {
        let token = key().sign("at+jwt", &serde_json::json!({"sub": "u1"})).unwrap();
        let payload = verify(&token, "at+jwt", &ours).unwrap();
        assert_eq!(payload.kid(), key().kid());
        assert_eq!(payload.claims().get("sub"), Some(&Value::String("u1".into())));
        assert!(verify(&token, "application/AT+JWT", &ours).is_ok());
        assert_eq!(verify(&token, "mfa-challenge+jwt", &ours).unwrap_err().reason(), "typ is not the expected one");
        let (h, _) = token.split_once('.').unwrap();
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": key().kid()}));
    }

    #[test]
    fn claims_must_be_an_object_and_typ_not_empty() {
        assert!(key().sign("at+jwt", &serde_json::json!(["sub"])).is_err());
        assert!(key().sign("", &serde_json::json!({})).is_err());
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_kid() {
        let der = key().to_pkcs8_der().unwrap();
        let again = SigningKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(again.kid(), key().kid());
        assert!(SigningKey::from_pkcs8_der(b"not a key").is_err());
        let debug = format!("{again:?}");
        assert!(debug.contains("redacted") && debug.contains(key().kid()), "{debug}");
        assert_eq!(again.public_key().bits(), 2048);
    }

    #[test]
    fn jwk_round_trip() {
        let jwk = key().public_jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["e"], "AQAB");
        assert!(!jwk["n"].as_str().unwrap().contains('='));
        let public = PublicKey::from_jwk(&jwk).unwrap();
        assert_eq!(public, key().public_key());
        let mut anonymous = jwk.clone();
        anonymous.as_object_mut().unwrap().remove("kid");
        assert_eq!(PublicKey::from_jwk(&anonymous).unwrap().kid(), key().kid(), "kid is the RFC 7638 thumbprint");
        let set = jwks([&public]);
        assert_eq!(set["keys"][0], jwk);
    }

    #[test]
    fn unusable_jwks_are_refused() {
        let jwk = key().public_jwk();
        let with = |name: &str, value: Value| {
            let mut j = jwk.clone();
            j.as_object_mut().unwrap().insert(name.to_owned(), value);
            PublicKey::from_jwk(&j)
        };
        assert!(with("kty", "EC".into()).is_err());
        assert!(with("alg", "RS512".into()).is_err());
        assert!(with("use", "enc".into()).is_err());
        assert!(with("e", "AQ".into()).is_err(), "e = 1");
        assert!(with("e", "Ag".into()).is_err(), "even e");
        assert!(with("n", URL_SAFE_NO_PAD.encode([0xffu8; 128]).into()).is_err(), "1024-bit modulus");
        assert!(with("n", "a+b/".into()).is_err());
        assert!(with("kid", 7.into()).is_err());
        assert!(PublicKey::from_jwk(&Value::Null).is_err());
    }

    #[test]
    fn the_thumbprint_matches_rfc_7638() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let n = URL_SAFE_NO_PAD.decode(n).unwrap();
        assert_eq!(thumbprint(&n, &[1, 0, 1]), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn duplicate_keys_are_found_at_any_depth_and_through_escapes() {
        assert_eq!(parse_object(br#"{"a":1,"a":2}"#), Err(JsonProblem::DuplicateKey));
        assert_eq!(parse_object(br#"{"alg":1,"\u0061lg":2}"#), Err(JsonProblem::DuplicateKey));
        assert_eq!(parse_object(br#"{"x":{"b":[{"c":1,"c":1}]}}"#), Err(JsonProblem::DuplicateKey));
        assert_eq!(parse_object(br#"[1]"#), Err(JsonProblem::NotObject));
        assert_eq!(parse_object(br#"{"a":1}x"#), Err(JsonProblem::NotJson));
        assert_eq!(parse_object(b"{\"a\":\"\xff\"}"), Err(JsonProblem::NotJson));
        let map = parse_object(br#"{"a":[1,-2,3.5,true,null,"s",{"b":{}}]}"#).unwrap();
        assert_eq!(Value::Object(map), serde_json::json!({"a": [1, -2, 3.5, true, null, "s", {"b": {}}]}));
    }

    #[test]
    fn base64url_is_strict() {
        assert!(decode_part("AQAB").is_ok());
        for bad in ["", "AQAB=", "AQ+B", "AQ/B", " AQAB", "AQ AB", "AQAB\n", "AR"] {
            assert!(decode_part(bad).is_err(), "{bad:?}");
        }
    }
}
