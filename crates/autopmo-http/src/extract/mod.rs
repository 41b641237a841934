//! The extractors handlers take. Each turns a bad request into a problem
//! document, never a bare text error.

pub mod if_match;
pub mod json;
pub mod path;
pub mod principal;
pub mod query;
