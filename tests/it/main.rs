//! keyrot's integration tests, in one binary (the AWS SDK is linked once). Suites that
//! need IAM share one moto server (started on first use on a free loopback port) and
//! isolate themselves by user-name prefix.

mod common;

mod accounts;
mod architecture;
mod audit;
mod auth;
mod certs;
mod cli_tools;
mod confirm;
mod crash;
mod e2e;
mod events;
mod examples;
mod fake;
mod faults;
mod fmt;
mod hostile;
mod http;
mod key_ids;
mod logs;
mod notify;
mod parallel;
mod planner;
mod policy;
mod properties;
mod s3_backend;
mod saved_plans;
mod selectors;
mod sinks;
mod speed;
