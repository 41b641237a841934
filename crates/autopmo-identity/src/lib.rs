#![doc = include_str!("../README.md")]

pub mod bruteforce;
pub mod mfa;
pub mod password_policy;
pub mod tokens;
