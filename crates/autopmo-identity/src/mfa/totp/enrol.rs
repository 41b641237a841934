//! What the user's authenticator app is given at enrolment: the secret in
//! base32, the `otpauth://` URI (Google's "Key Uri Format", which every
//! authenticator app reads) and that URI as a QR code.
//!
//! All three contain the secret: show them once, over an authenticated
//! session, with `Cache-Control: no-store`, and never log them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use super::TotpPolicy;
use crate::mfa::MfaError;

/// Everything but RFC 3986's unreserved characters is percent-encoded, so a
/// `:`, `?`, `&`, `#`, `/` or space in an issuer or account name cannot
/// change the URI's structure.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// RFC 4648 base32 (`A`–`Z`, `2`–`7`), upper-case and without `=` padding:
/// what authenticator apps expect for a secret typed in by hand or in a URI.
pub fn base32(secret: &[u8]) -> String {
    let mut out = String::with_capacity(secret.len().div_ceil(5) * 8);
    // At most 4 bits are left over between bytes, so 12 bits at most are held.
    let mut buffer: u32 = 0;
    let mut bits: u32 = 0;
    for &byte in secret {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(symbol(buffer >> bits));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(symbol(buffer << (5 - bits)));
    }
    out
}

/// The base32 symbol for the low five bits of `value`.
fn symbol(value: u32) -> char {
    let index = (value & 0x1f) as u8;
    char::from(if index < 26 { b'A' + index } else { b'2' + (index - 26) })
}

/// The `otpauth://totp/…` URI an authenticator app scans:
/// `otpauth://totp/Issuer:account?secret=…&issuer=Issuer&algorithm=SHA256&digits=6&period=30`.
///
/// The issuer and account are percent-encoded (UTF-8, everything but
/// RFC 3986's unreserved characters) in the label and in the `issuer`
/// parameter. With an empty issuer, the label is the account alone and there
/// is no `issuer` parameter. See the [module doc](super) for apps that
/// ignore `algorithm`.
pub fn otpauth_uri(secret: &[u8], policy: &TotpPolicy, issuer: &str, account: &str) -> String {
    let account = utf8_percent_encode(account, COMPONENT);
    let secret = base32(secret);
    let parameters = format!("algorithm={}&digits={}&period={}", policy.algorithm, policy.digits, policy.period);
    if issuer.is_empty() {
        format!("otpauth://totp/{account}?secret={secret}&{parameters}")
    } else {
        let issuer = utf8_percent_encode(issuer, COMPONENT);
        format!("otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&{parameters}")
    }
}

/// `uri` as a QR code in an SVG document (black on white, medium error
/// correction, with the quiet zone, about 200 px wide; scale it with CSS).
pub fn qr_svg(uri: &str) -> Result<String, MfaError> {
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
        .map_err(|error| MfaError::QrCode(error.to_string()))?;
    Ok(code.render::<svg::Color<'_>>().min_dimensions(200, 200).build())
}
