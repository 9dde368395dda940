#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod chart;
mod console;
mod http;
mod pages;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;

pub use auth::MIN_TOKEN_LEN;
pub use console::{ConfigError, Console, ConsoleConfig, TOKEN_ENV};
pub use http::{ConsoleRequest, ConsoleResponse};
