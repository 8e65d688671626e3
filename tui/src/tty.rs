//! Ends the dashboard when its terminal goes away (a tmux pane or server killed, an ssh session
//! dropped). The terminal's input then reports hang-up and every read returns nothing, and
//! crossterm's reader goes on reading in a tight loop without handing control back, so neither
//! the UI loop nor a SIGHUP/SIGTERM event would ever be seen. A watcher thread polls standard
//! input for hang-up and exits the process: with no terminal left there is nothing to restore.

use std::io::IsTerminal as _;
use std::os::fd::AsFd as _;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// How often the watcher looks at the terminal.
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// The exit status after a hang-up (128 + SIGHUP, as a shell reports a process it hung up).
pub const HANGUP_STATUS: i32 = 129;

/// Starts the watcher when standard input is a terminal (crossterm reads keys from it then;
/// otherwise it opens `/dev/tty`, and a closed pipe on stdin says nothing about the terminal).
pub fn exit_on_hangup() -> std::io::Result<()> {
    if !std::io::stdin().is_terminal() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("tty-hangup".into())
        .spawn(|| loop {
            std::thread::sleep(CHECK_EVERY);
            if stdin_hung_up() {
                std::process::exit(HANGUP_STATUS);
            }
        })
        .map(drop)
}

/// True once standard input reports hang-up, an error, or an invalid descriptor.
fn stdin_hung_up() -> bool {
    let stdin = std::io::stdin();
    let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(0) | Err(_) => false,
        Ok(_) => fds[0].revents().is_some_and(|r| {
            r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL)
        }),
    }
}
