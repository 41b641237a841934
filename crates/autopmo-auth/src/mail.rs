//! Sending mail: the [`Mailer`] the identity service hands its messages to
//! (password-reset links), and [`SmtpMailer`], which delivers them to an
//! SMTP server with `lettre` over rustls (aws-lc-rs; no OpenSSL).
//!
//! Transport security is explicit ([`SmtpTls`]): implicit TLS (`tls`, port
//! 465), STARTTLS that must succeed (`starttls`, port 587), or none (`none`,
//! for a relay on this machine). Credentials are refused over `none` unless
//! `danger_allow_plain_auth` says otherwise. Server certificates are checked
//! against the Mozilla roots (`webpki-roots`).

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A plain-text message to one recipient. Its body may carry a secret (a
/// reset link), so `Debug` leaves it out.
#[derive(Clone)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: SecretString,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail").field("subject", &self.subject).finish_non_exhaustive()
    }
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The configuration cannot work (bad sender address, credentials over plain text).
    #[error("mail configuration: {0}")]
    Config(String),
    /// The message could not be built (e.g. an unusable recipient address).
    #[error("message: {0}")]
    Message(String),
    /// The SMTP server could not be reached or refused the message.
    #[error("smtp: {0}")]
    Smtp(String),
}

/// What [`Mailer::send`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Something that delivers mail.
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Sends `mail`; done when the server accepted it.
    fn send<'a>(&'a self, mail: &'a Mail) -> SendFuture<'a>;
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text: only for a relay on this machine or a test server.
    None,
    /// STARTTLS, which must succeed before anything is sent (port 587).
    StartTls,
    /// Implicit TLS from the first byte (port 465).
    Tls,
}

/// Where and how to send.
#[derive(Clone)]
pub struct SmtpSettings {
    /// Server host name (also the name its certificate must carry).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// The sender, `pmo@example.org` or `AutoPMO <pmo@example.org>`.
    pub from: String,
    /// Login, if the server wants one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<SecretString>,
    /// Transport security.
    pub tls: SmtpTls,
    /// Allow sending credentials without TLS (a relay on this machine).
    pub danger_allow_plain_auth: bool,
    /// The name AutoPMO gives in `EHLO` (the host of its public URL).
    pub hello_name: Option<String>,
    /// Time allowed per SMTP command.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username.is_some())
            .finish_non_exhaustive()
    }
}

/// Delivers mail to one SMTP server (a new connection per message).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    endpoint: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `settings`; refuses settings that would leak credentials.
    pub fn new(settings: &SmtpSettings) -> Result<Self, MailError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| MailError::Config(format!("smtp.from {:?} is not a mail address: {e}", settings.from)))?;
        let credentials = match (&settings.username, &settings.password) {
            (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password.expose_secret().to_owned())),
            (None, None) => None,
            _ => return Err(MailError::Config("smtp.username and smtp.password go together".to_owned())),
        };
        if credentials.is_some() && settings.tls == SmtpTls::None && !settings.danger_allow_plain_auth {
            return Err(MailError::Config(
                "smtp credentials over a plain-text connection: use tls = \"starttls\" or \"tls\" \
                 (or danger_allow_plain_auth = true for a relay on this machine)"
                    .to_owned(),
            ));
        }
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls | SmtpTls::Tls => {
                let parameters = TlsParameters::new_rustls(settings.host.clone())
                    .map_err(|e| MailError::Config(format!("smtp TLS: {e}")))?;
                if settings.tls == SmtpTls::Tls { Tls::Wrapper(parameters) } else { Tls::Required(parameters) }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some(name) = &settings.hello_name {
            builder = builder.hello_name(ClientId::Domain(name.clone()));
        }
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }
        Ok(Self { transport: builder.build(), from, endpoint: format!("{}:{}", settings.host, settings.port) })
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> SendFuture<'a> {
        Box::pin(async move {
            let to: Mailbox = mail.to.parse().map_err(|e| MailError::Message(format!("recipient: {e}")))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject.as_str())
                .header(ContentType::TEXT_PLAIN)
                .body(mail.body.expose_secret().to_owned())
                .map_err(|e| MailError::Message(e.to_string()))?;
            self.transport.send(message).await.map_err(|e| MailError::Smtp(e.to_string()))?;
            Ok(())
        })
    }
}
