#![doc = include_str!("../README.md")]

mod load;
mod model;

pub use load::{ConfigError, load};
pub use model::{
    AuditConfig, Config, DatabaseConfig, DatabaseUrl, Environment, HttpConfig, LogConfig, LogFormat, SqliteSynchronous,
};
