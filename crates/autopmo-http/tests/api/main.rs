//! HTTP API tests. Each test starts the real server on a random loopback
//! port over a fresh database and runs twice: on SQLite and on PostgreSQL
//! (skipped with a notice when `AUTOPMO_TEST_POSTGRES_URL` is not set).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly; the helpers and test bodies are not `#[test]` functions, \
              so clippy's allow-*-in-tests does not reach them"
)]

mod helpers;

mod forged_tokens;

mod audit;
mod audit_query;
mod auth;
mod authz_abac;
mod authz_matrix;
mod bad_input;
mod bad_requests;
mod body_schemas;
mod budget_approval;
mod cookies;
mod list_params;
mod members_costs;
mod mfa;
mod oidc;
mod openapi;
mod openapi_rules;
mod password;
mod projects;
mod protocol;
mod roles;
mod service_accounts;
mod tasks;
mod transport;
