//! Test support: real daemons, real repositories, real HTTP and control-socket clients.
#![allow(dead_code)]

pub mod control;
pub mod daemon;
pub mod hooks;
pub mod http;
pub mod repo;
