#![doc = include_str!("../README.md")]

pub mod chain;
pub mod record;

pub use chain::{ChainError, ChainHead, GENESIS_HASH, Verifier};
pub use record::{Actor, AuditRecord, Category, Outcome, Resource};
