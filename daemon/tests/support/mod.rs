//! Test support: real daemons, real repositories, real git servers, real HTTP and control-socket
//! clients. Each test binary uses part of it.
#![allow(dead_code)]

pub mod control;
pub mod daemon;
pub mod docker_proxy;
pub mod git_servers;
pub mod hooks;
pub mod http;
pub mod recorder;
pub mod repo;
pub mod tmux;
