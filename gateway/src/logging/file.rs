//! The error log file: appended to, and reopened at the same path on request (SIGUSR1, after
//! logrotate moved it away). The file in use is swapped atomically, so the writer thread
//! never waits on a reopen.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

/// A log file that can be reopened at its path while lines are being written to it.
#[derive(Debug)]
pub struct ReopenableFile {
    path: PathBuf,
    current: ArcSwap<File>,
}

impl ReopenableFile {
    /// Opens `path` for appending (creating it and its directory).
    pub fn open(path: &Path) -> io::Result<Arc<ReopenableFile>> {
        Ok(Arc::new(ReopenableFile {
            path: path.to_path_buf(),
            current: ArcSwap::from_pointee(open_append(path)?),
        }))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the path afresh; lines written from now on go to the new file. On failure the
    /// old file stays in use.
    pub fn reopen(&self) -> io::Result<()> {
        self.current.store(Arc::new(open_append(&self.path)?));
        Ok(())
    }

    /// A writer appending to whichever file is current.
    pub fn writer(self: &Arc<Self>) -> ReopenableWriter {
        ReopenableWriter(self.clone())
    }
}

/// The [`Write`] end of a [`ReopenableFile`].
#[derive(Debug, Clone)]
pub struct ReopenableWriter(Arc<ReopenableFile>);

impl Write for ReopenableWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self.0.current.load();
        (&**file).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        let file = self.0.current.load();
        (&**file).flush()
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(with_path)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(with_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_after_a_rename_writes_to_a_fresh_file_at_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/error.log");
        let file = ReopenableFile::open(&path).expect("open");
        let mut writer = file.writer();
        writer.write_all(b"one\n").expect("write");
        std::fs::rename(&path, dir.path().join("error.log.1")).expect("rename");
        writer.write_all(b"two\n").expect("write");
        file.reopen().expect("reopen");
        writer.write_all(b"three\n").expect("write");
        let rotated = std::fs::read_to_string(dir.path().join("error.log.1")).expect("read");
        assert_eq!(rotated, "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "three\n");
    }
}
