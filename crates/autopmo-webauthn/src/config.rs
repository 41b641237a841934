//! The relying party's settings and their validation.

use webauthn_rs::prelude::Url;

use crate::WebAuthnError;

/// Who the relying party is. Changing `rp_id` later makes every registered credential unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnConfig {
    /// The relying party id: the origin's host or a parent domain of it (`pmo.example.org` or
    /// `example.org` for `https://pmo.example.org`). Credentials are bound to it.
    pub rp_id: String,
    /// The origin the browser reports, `https://host[:port]` (`http://localhost[:port]` is
    /// accepted for development). A domain name, not an IP address.
    pub rp_origin: String,
    /// A name authenticators may show to the user ("AutoPMO").
    pub rp_name: String,
}

impl WebAuthnConfig {
    /// Parses and checks the origin; the RP id suffix rule is checked by `webauthn-rs`.
    pub(crate) fn origin(&self) -> Result<Url, WebAuthnError> {
        let invalid = |why: &str| WebAuthnError::Config(format!("rp_origin: {why}"));
        let url = Url::parse(&self.rp_origin).map_err(|_| invalid("not a URL"))?;
        let Some(domain) = url.domain() else {
            return Err(invalid("the host must be a domain name, not an IP address"));
        };
        match url.scheme() {
            "https" => {}
            "http" if domain == "localhost" => {}
            _ => return Err(invalid("must be https:// (http:// only for localhost)")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not contain credentials"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("must be scheme://host[:port] without a path, query or fragment"));
        }
        Ok(url)
    }

    /// The display name, checked.
    pub(crate) fn name(&self) -> Result<&str, WebAuthnError> {
        let name = self.rp_name.trim();
        if name.is_empty() {
            return Err(WebAuthnError::Config("rp_name: must not be empty".to_owned()));
        }
        Ok(name)
    }
}
