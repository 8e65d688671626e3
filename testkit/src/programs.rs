//! Locating the programs the tests run. A missing system program fails the test with the
//! Debian package that provides it (never a silent pass); `make test` installs them. The
//! workspace binaries are found in the target dir next to the test executable.

use std::path::PathBuf;
use std::time::Duration;

const SEARCH_DIRS: [&str; 4] = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];

/// The first of `names` found on `PATH` or in the usual sbin/bin directories.
pub fn find(names: &[&str]) -> Option<PathBuf> {
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for name in names {
        let candidates = path_dirs
            .iter()
            .cloned()
            .chain(SEARCH_DIRS.iter().map(PathBuf::from));
        for dir in candidates {
            let path = dir.join(name);
            if path.is_file() {
                return Some(path);
            }
        }
    }
    None
}

/// Like [`find`], but an error naming the package to install when nothing is found.
pub fn require(names: &[&str], package: &str) -> anyhow::Result<PathBuf> {
    find(names).ok_or_else(|| {
        anyhow::anyhow!(
            "required program {} not found: install the `{package}` package \
             (`make deps`, or `apt-get install -y {package}`)",
            names.join(" or ")
        )
    })
}

/// Opens (creating) a file for appending: the log of a helper process.
pub fn append_file(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?)
}

/// Whether this process runs as root (servers such as mariadbd then need `--user=root`).
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // /proc/self belongs to the effective user of this process.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The last `lines` lines of a text file ("" when unreadable).
pub fn file_tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A workspace binary built next to the test executable (`target/<profile>/<name>`, the
/// parent of `deps/`), or the path in the environment variable `env` when set.
pub fn target_bin(name: &str, env: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("test executable {} has no parent", exe.display()))?;
    if dir.ends_with("deps") {
        dir = dir.parent().unwrap_or(dir);
    }
    let bin = dir.join(name);
    if !bin.is_file() {
        anyhow::bail!(
            "{name} binary {} not found: run `cargo build --workspace --bins` first \
             (or set {env})",
            bin.display()
        );
    }
    Ok(bin)
}

/// The `apisix-gateway` binary under test (`$APISIX_GATEWAY_BIN` when set).
pub fn gateway_bin() -> anyhow::Result<PathBuf> {
    target_bin("apisix-gateway", "APISIX_GATEWAY_BIN")
}

/// The `apisixctl` binary under test: `$APISIXCTL_BIN` when set, else next to
/// [`gateway_bin`].
pub fn apisixctl_bin() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("APISIXCTL_BIN") {
        return Ok(PathBuf::from(path));
    }
    let bin = gateway_bin()?.with_file_name("apisixctl");
    if !bin.is_file() {
        anyhow::bail!(
            "apisixctl binary {} not found: run `cargo build --workspace --bins` first \
             (or set APISIXCTL_BIN)",
            bin.display()
        );
    }
    Ok(bin)
}

/// The `etcd` server binary (package `etcd-server`).
pub fn etcd_bin() -> anyhow::Result<PathBuf> {
    require(&["etcd"], "etcd-server")
}

/// A process's user + system CPU time so far (`/proc/<pid>/stat`).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("process stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat has a comm field")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    let hz: u64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100);
    Duration::from_millis(ticks * 1000 / hz)
}
