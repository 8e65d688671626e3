//! Backends on 127.0.0.1 port 0 for the proxy tests.
//!
//! - [`counted`]: [`TcpBackend`] (echo, greeting, reply after EOF) and [`UdpEcho`], handles
//!   that count connections, datagrams and peers and stop when dropped.
//! - [`spawned`]: fire-and-forget servers returning their address: TCP echo (reporting each
//!   closed connection), UDP echo, tag-then-echo, tag-each-read, count-then-reply.

pub mod counted;
pub mod spawned;

pub use counted::{serve_echo, TcpBackend, UdpEcho};
pub use spawned::{
    count_then_reply, tag_each_read, tag_then_echo, tcp_echo, udp_echo, write_tag_then_echo,
};
