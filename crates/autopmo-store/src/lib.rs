#![doc = include_str!("../README.md")]

pub mod approvals;
pub mod audit;
mod codec;
mod db;
mod error;
mod lookup;
mod notify;
mod page;
pub mod recent;
mod row;
mod uow;

pub mod costs;
pub mod credentials;
pub mod federation;
pub mod invites;
pub mod members;
pub mod mfa;
pub mod migrate;
pub mod password_resets;
pub mod projects;
pub mod service_accounts;
pub mod sessions;
pub mod settings;
pub mod siem;
pub mod signing_keys;
pub mod tasks;
pub mod tokens;
pub mod users;
pub mod visibility;

pub use db::{Backend, ReadConnection, Store, StoreOptions};
pub use error::{Result, StoreError};
pub use lookup::Freshness;
pub use page::{Cursor, DEFAULT_LIMIT, Direction, ListParams, MAX_LIMIT, Page, SortKey};
pub use uow::UnitOfWork;

/// A database connection: what the query functions take (`uow.conn()` or `&mut *store.read().await?`).
pub type Connection = sqlx::AnyConnection;
