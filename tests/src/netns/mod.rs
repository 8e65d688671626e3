//! A test bed of hosts on one machine: network namespaces joined by Linux bridges.
//!
//! - A [`Network`] is a bridge in the root namespace with the address `198.18.N.1/24`: the test
//!   process itself is the "client host" of every network and reaches every host on it.
//! - A [`Host`] is a network namespace with `lo` up and one veth per network it joins
//!   ([`Host::attach`]: `eth0`, `eth1`, ... inside, the other end enslaved to the bridge).
//!   Programs run on it through [`Host::command`] / [`exec_in`] (`ip netns exec`).
//! - [`Host::set_link`] takes a host's veth down or up on the bridge side: a cable pulled out
//!   of one network (packets are dropped, nothing is refused), then plugged back in.
//!
//! Traffic goes nowhere but to hosts the test made (and loopback): the subnets come from the
//! RFC 2544 benchmark range and nothing is routed. Dropping a [`Host`] kills what still runs in
//! it and deletes the namespace (and so its veths); dropping a [`Network`] deletes the bridge.
//! [`available`] says once per process whether namespaces can be made here (root, `ip netns
//! add` works) and sweeps what killed earlier runs left ([`names`]). Tests that cannot run
//! fail with the reason unless `SKIP_NETNS=1` ([`skip_requested`]).

pub mod ip;
pub mod names;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::tools;

/// Whether the environment asks to skip (rather than fail) tests that need namespaces.
pub fn skip_requested() -> bool {
    std::env::var("SKIP_NETNS").is_ok_and(|v| v == "1")
}

/// `Ok` when this process can make namespaces, bridges and veths; the reason otherwise.
/// Checked once per process; the first call also sweeps stale objects of killed runs.
pub fn available() -> Result<(), String> {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    CHECK.get_or_init(check).clone()
}

fn check() -> Result<(), String> {
    if !tools::running_as_root() {
        return Err("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    ip::ip_bin().map_err(|e| format!("{e:#}"))?;
    names::sweep_stale();
    let probe = format!("{}-probe", names::next_name());
    ip::run(&["netns", "add", &probe]).map_err(|e| format!("`ip netns add` fails: {e:#}"))?;
    ip::run_quietly(&["netns", "delete", &probe]);
    let bridge = names::next_name();
    ip::run(&["link", "add", &bridge, "type", "bridge"])
        .map_err(|e| format!("cannot make a bridge: {e:#}"))?;
    ip::run_quietly(&["link", "delete", &bridge]);
    Ok(())
}

/// `ip netns exec <ns> <program>`: add the program's arguments to the returned command.
/// `ip` executes the program in place, so the child's pid is the program's.
pub fn exec_in(ns: &str, program: &Path) -> anyhow::Result<Command> {
    let mut command = Command::new(ip::ip_bin()?);
    command.args(["netns", "exec", ns]).arg(program);
    Ok(command)
}

/// One network: a bridge in the root namespace holding `198.18.N.1/24`.
#[derive(Debug)]
pub struct Network {
    bridge: String,
    octet: u8,
}

impl Network {
    /// Makes the bridge on a subnet no other network of this machine uses.
    pub fn create() -> anyhow::Result<Network> {
        let octet = names::allocate_subnet()?;
        let net = Network {
            bridge: names::next_name(),
            octet,
        };
        ip::run(&["link", "add", &net.bridge, "type", "bridge"])?;
        ip::run(&[
            "addr",
            "add",
            &format!("{}/24", net.client_ip()),
            "dev",
            &net.bridge,
        ])?;
        ip::run(&["link", "set", &net.bridge, "up"])?;
        Ok(net)
    }

    /// The bridge's interface name.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// `198.18.N.<host>`.
    pub fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.octet, host)
    }

    /// `198.18.N.1`: the test process on this network.
    pub fn client_ip(&self) -> Ipv4Addr {
        self.addr(1)
    }

    /// `198.18.N.0/24`.
    pub fn cidr(&self) -> String {
        format!("{}/24", self.addr(0))
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        ip::run_quietly(&["link", "delete", &self.bridge]);
        names::release_subnet(self.octet);
    }
}

/// One veth of a host: the bridge it is plugged into, its outer (bridge-side) end, its address.
#[derive(Debug)]
struct HostLink {
    bridge: String,
    outer: String,
    ip: Ipv4Addr,
}

/// One host: a network namespace.
#[derive(Debug)]
pub struct Host {
    ns: String,
    links: Vec<HostLink>,
}

impl Host {
    /// Makes a namespace named `e2efl<pid>x<nn>-<label>` with `lo` up and no other link yet.
    pub fn create(label: &str) -> anyhow::Result<Host> {
        let host = Host {
            ns: format!("{}-{label}", names::next_name()),
            links: Vec::new(),
        };
        ip::run(&["netns", "add", &host.ns])?;
        ip::run(&["-n", &host.ns, "link", "set", "lo", "up"])?;
        Ok(host)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.ns
    }

    /// Plugs the host into `net` with the address `198.18.N.<host_octet>`; returns it.
    pub fn attach(&mut self, net: &Network, host_octet: u8) -> anyhow::Result<Ipv4Addr> {
        let ip = net.addr(host_octet);
        let outer = names::next_name();
        let inner = names::next_name();
        let dev = format!("eth{}", self.links.len());
        ip::run(&[
            "link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns", &self.ns,
        ])?;
        let steps: [&[&str]; 5] = [
            &["-n", &self.ns, "link", "set", &inner, "name", &dev],
            &[
                "-n",
                &self.ns,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                &dev,
            ],
            &["-n", &self.ns, "link", "set", &dev, "up"],
            &["link", "set", &outer, "master", net.bridge()],
            &["link", "set", &outer, "up"],
        ];
        for step in steps {
            if let Err(e) = ip::run(step) {
                ip::run_quietly(&["link", "delete", &outer]);
                return Err(e);
            }
        }
        self.links.push(HostLink {
            bridge: net.bridge().to_string(),
            outer,
            ip,
        });
        Ok(ip)
    }

    /// The host's address on `net`, if it is plugged into it.
    pub fn ip_on(&self, net: &Network) -> Option<Ipv4Addr> {
        self.link_on(net).map(|l| l.ip)
    }

    fn link_on(&self, net: &Network) -> Option<&HostLink> {
        self.links.iter().find(|l| l.bridge == net.bridge())
    }

    /// Takes the host's veth on `net` down (cut off: its packets are dropped) or up again, on
    /// the bridge side.
    pub fn set_link(&self, net: &Network, up: bool) -> anyhow::Result<()> {
        let link = self.link_on(net).ok_or_else(|| {
            anyhow::anyhow!("host {} is not on network {}", self.ns, net.bridge())
        })?;
        let state = if up { "up" } else { "down" };
        ip::run(&["link", "set", &link.outer, state])?;
        Ok(())
    }

    /// A command running `program` inside this host.
    pub fn command(&self, program: &Path) -> anyhow::Result<Command> {
        exec_in(&self.ns, program)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        names::kill_processes_in(&self.ns);
        ip::run_quietly(&["netns", "delete", &self.ns]);
        for link in &self.links {
            // Normally gone with the namespace; left over only if a process kept it alive.
            if ip::run(&["link", "show", &link.outer]).is_ok() {
                ip::run_quietly(&["link", "delete", &link.outer]);
            }
        }
    }
}
