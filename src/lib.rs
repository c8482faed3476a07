//! keyrot: Terraform-style plan/apply for rotating AWS IAM credentials without downtime.

pub mod apply;
pub mod audit;
pub mod aws;
pub mod certs;
pub mod cli;
pub mod config;
pub mod crash;
pub mod diagnostic;
pub mod duration;
pub mod fsutil;
pub mod iam;
pub mod inventory;
pub mod journal;
pub mod model;
pub mod plan;
pub mod planfile;
pub mod planner;
pub mod policy;
pub mod recover;
pub mod render;
pub mod services;
pub mod sink;
pub mod state;
pub mod state_file;
pub mod store;
