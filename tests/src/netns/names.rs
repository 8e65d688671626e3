//! Names and subnets of the test bed, and the sweep of what a killed earlier run left behind.
//!
//! Every namespace, bridge and veth this process makes is named `e2efl<pid>x<nn>` (`nn`: two
//! base-36 digits from a process-wide counter), so names stay within Linux's 15 characters
//! for interfaces (`pid_max` is at most 4194304: 7 digits) and say which process owns them.
//! Namespaces may carry a `-<label>` suffix (`e2efl4242x03-m1`) for people reading `ip netns`.
//! [`sweep_stale`] removes objects whose owner process is gone (killing the processes left in
//! such a namespace first).
//!
//! Subnets are `198.18.N.0/24` (RFC 2544's benchmark range, never routed), N distinct per
//! network of this process and not already on an interface of the root namespace.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::ip;

/// What every name of the test bed starts with.
pub const PREFIX: &str = "e2efl";

/// Base-36 digits of the per-process counter.
const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A fresh name `e2efl<pid>x<nn>` owned by this process.
pub fn next_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst) as usize % (36 * 36);
    format!(
        "{PREFIX}{}x{}{}",
        std::process::id(),
        char::from(DIGITS[n / 36]),
        char::from(DIGITS[n % 36])
    )
}

/// The owner pid encoded in a test-bed name, `None` for other names.
pub fn owner_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, _) = rest.split_once('x')?;
    pid.parse().ok()
}

/// Whether `name` belongs to a process that no longer runs.
fn is_stale(name: &str) -> bool {
    owner_of(name).is_some_and(|pid| {
        pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    })
}

/// Kills every process left in namespace `ns` (all of them were started by a test run).
pub fn kill_processes_in(ns: &str) {
    let Ok(pids) = ip::run(&["netns", "pids", ns]) else {
        return;
    };
    for pid in pids
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Removes namespaces and links of test runs that were killed before their clean-up ran.
pub fn sweep_stale() {
    if let Ok(list) = ip::run(&["netns", "list"]) {
        for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if is_stale(ns) {
                kill_processes_in(ns);
                ip::run_quietly(&["netns", "delete", ns]);
            }
        }
    }
    if let Ok(links) = ip::run(&["-o", "link", "show"]) {
        // "12: e2efl42x03@if11: <BROADCAST,...> ..." (veth) or "11: e2efl42x02: <...>" (bridge)
        for line in links.lines() {
            let Some(name) = line.split(':').nth(1).map(str::trim) else {
                continue;
            };
            let name = name.split('@').next().unwrap_or(name);
            if is_stale(name) {
                ip::run_quietly(&["link", "delete", name]);
            }
        }
    }
}

/// Third octets handed out by this process (released when a network is dropped).
fn taken() -> &'static Mutex<HashSet<u8>> {
    static TAKEN: OnceLock<Mutex<HashSet<u8>>> = OnceLock::new();
    TAKEN.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A third octet N such that 198.18.N.0/24 is used neither by this process nor by any
/// interface of the root namespace (another test binary running at the same time).
pub fn allocate_subnet() -> anyhow::Result<u8> {
    let in_use = ip::run(&["-o", "-4", "addr", "show"])?;
    let mut taken = taken().lock().expect("subnet set lock");
    let start = (std::process::id() % 254) as usize;
    for i in 0..254 {
        let n = u8::try_from((start + i) % 254 + 1).expect("1..=254 fits in a u8");
        // `ip -o addr` lines read "... inet 198.18.7.1/24 ..."
        if taken.contains(&n) || in_use.contains(&format!(" 198.18.{n}.")) {
            continue;
        }
        taken.insert(n);
        return Ok(n);
    }
    anyhow::bail!("no free 198.18.N.0/24 subnet left (254 in use)")
}

/// Gives a third octet back.
pub fn release_subnet(n: u8) {
    taken().lock().expect("subnet set lock").remove(&n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_an_interface_and_name_their_owner() {
        let name = next_name();
        assert!(name.len() <= 15, "{name}");
        assert_eq!(owner_of(&name), Some(std::process::id()));
        assert_eq!(owner_of("e2efl77x0a-m1"), Some(77));
        assert_eq!(owner_of("eth0"), None);
        assert_eq!(owner_of("e2eflabcx01"), None);
    }
}
