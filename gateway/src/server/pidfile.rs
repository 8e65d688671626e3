//! The pid file, `<prefix>/logs/apisix-gateway.pid`: written at start, removed at exit, read by
//! `apisix-gateway reload` / `stop` to signal the running instance.

use std::io;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// File name under `<prefix>/logs/`.
pub const PID_FILE_NAME: &str = "apisix-gateway.pid";

/// Failures around the pid file.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("apisix-gateway is already running with pid {pid} (pid file {path})")]
    AlreadyRunning { pid: i32, path: PathBuf },
    #[error("no pid file at {path}: is apisix-gateway running?")]
    Missing { path: PathBuf },
    #[error("{path}: invalid pid file content {content:?}")]
    Invalid { path: PathBuf, content: String },
    #[error("process {pid} from {path} is not running")]
    NotRunning { pid: i32, path: PathBuf },
    #[error("cannot signal process {pid}: {source}")]
    Signal {
        pid: i32,
        #[source]
        source: nix::Error,
    },
}

/// The pid file path for `prefix`.
pub fn pid_file_path(prefix: &Path) -> PathBuf {
    prefix.join("logs").join(PID_FILE_NAME)
}

/// Reads the pid stored at `path`.
pub fn read_pid(path: &Path) -> Result<i32, PidFileError> {
    let content = std::fs::read_to_string(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => PidFileError::Missing {
            path: path.to_path_buf(),
        },
        _ => PidFileError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    content
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| PidFileError::Invalid {
            path: path.to_path_buf(),
            content: content.trim().to_string(),
        })
}

/// Sends `signal` to the instance whose pid file is at `path`; returns its pid.
pub fn signal_running(path: &Path, signal: Signal) -> Result<i32, PidFileError> {
    let pid = read_pid(path)?;
    kill(Pid::from_raw(pid), signal).map_err(|source| match source {
        nix::Error::ESRCH => PidFileError::NotRunning {
            pid,
            path: path.to_path_buf(),
        },
        source => PidFileError::Signal { pid, source },
    })?;
    Ok(pid)
}

/// The pid file of this process; removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's pid to `<prefix>/logs/apisix-gateway.pid` (creating `logs/`).
    /// Refuses when the file names another live process.
    pub fn create(prefix: &Path) -> Result<PidFile, PidFileError> {
        let path = pid_file_path(prefix);
        let own = std::process::id() as i32;
        if let Ok(pid) = read_pid(&path) {
            if pid != own && kill(Pid::from_raw(pid), None).is_ok() {
                return Err(PidFileError::AlreadyRunning { pid, path });
            }
        }
        let io_err = |source| PidFileError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        std::fs::write(&path, format!("{own}\n")).map_err(io_err)?;
        Ok(PidFile { path })
    }

    /// Where it was written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove pid file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_is_written_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = {
            let pid = PidFile::create(dir.path()).expect("create pid file");
            assert_eq!(
                read_pid(pid.path()).expect("read back"),
                std::process::id() as i32
            );
            pid.path().to_path_buf()
        };
        assert!(!path.exists());
        assert!(matches!(read_pid(&path), Err(PidFileError::Missing { .. })));
    }

    #[test]
    fn garbage_pid_file_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.pid");
        std::fs::write(&path, "hello").expect("write");
        let err = signal_running(&path, Signal::SIGHUP).expect_err("invalid");
        assert!(
            err.to_string().contains("invalid pid file content"),
            "{err}"
        );
    }
}
