//! keyrot: Terraform-style plan/apply for rotating AWS IAM credentials without downtime.

pub mod config;
pub mod diagnostic;
pub mod duration;
pub mod model;
