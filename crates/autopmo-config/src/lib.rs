#![doc = include_str!("../README.md")]

mod load;
mod model;

pub use load::{ConfigError, load};
pub use model::{
    ArchiveConfig, ArchiveTargetKind, AuditConfig, Config, DatabaseConfig, DatabaseUrl, Environment, HttpConfig,
    LogConfig, LogFormat, RetentionConfig, S3Config, SqliteSynchronous, SslRequired,
};
pub use model::{AuthorizationConfig, BudgetApprovalConfig, MfaConfig, SmsGatewayKind, SmsSettings, WebAuthnSettings};
pub use model::{OidcConfig, OidcIssuerConfig, OidcProvisioning};
pub use model::{PasswordsConfig, SmtpConfig, SmtpTls};
pub use model::{SiemConfig, SiemSinkConfig, SiemSinkKind, SyslogFacility};
