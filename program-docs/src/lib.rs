//! Man pages (clap_mangen) and bash, zsh and fish completions (clap_complete) of a program,
//! written from its clap definition. Each shipped program has a hidden `generate-docs DIR`
//! command (a `--generate-docs DIR` option in `apisix-tui`) that calls [`write`];
//! `scripts/package.sh` runs them before building the Debian package.
//!
//! Layout under `DIR`, named as the packages install them:
//! - `man/<program>.1`, plus `man/<program>-<subcommand>.1` for each visible subcommand
//!   (not `help`);
//! - `completions/bash/<program>` (`/usr/share/bash-completion/completions/`);
//! - `completions/zsh/_<program>` (`/usr/share/zsh/vendor-completions/`);
//! - `completions/fish/<program>.fish` (`/usr/share/fish/vendor_completions.d/`).

use std::io;
use std::path::{Path, PathBuf};

use clap_complete::Shell;

/// Writes the man pages and the completions of `command` under `dir`; returns the files.
pub fn write(command: clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let name = command.get_name().to_owned();
    let mut command = command;
    command.build();
    let mut written = man_pages(&command, &dir.join("man"))?;
    for (shell, file) in [
        (Shell::Bash, name.clone()),
        (Shell::Zsh, format!("_{name}")),
        (Shell::Fish, format!("{name}.fish")),
    ] {
        let path = dir.join("completions").join(shell.to_string()).join(file);
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut command.clone(), &name, &mut out);
        write_file(&path, &out)?;
        written.push(path);
    }
    Ok(written)
}

/// `<name>.1` for `command`, and `<name>-<sub>.1` for each visible subcommand, recursively.
fn man_pages(command: &clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    let path = dir.join(format!(
        "{}.1",
        command.get_display_name().unwrap_or(command.get_name())
    ));
    write_file(&path, &out)?;
    let mut written = vec![path];
    let pages = command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help");
    for sub in pages {
        let display = format!(
            "{}-{}",
            command.get_display_name().unwrap_or(command.get_name()),
            sub.get_name()
        );
        let sub = sub.clone().display_name(display);
        written.extend(man_pages(&sub, dir)?);
    }
    Ok(written)
}

fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> clap::Command {
        clap::Command::new("demo")
            .about("A demo program")
            .arg(
                clap::Arg::new("verbose")
                    .long("verbose")
                    .action(clap::ArgAction::SetTrue),
            )
            .subcommand(clap::Command::new("run").about("Run it"))
            .subcommand(clap::Command::new("secret").hide(true))
    }

    #[test]
    fn writes_a_page_per_visible_command_and_three_completions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = write(demo(), dir.path()).expect("write");
        let names: Vec<String> = files
            .iter()
            .map(|p| {
                p.strip_prefix(dir.path())
                    .expect("under dir")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "man/demo.1",
                "man/demo-run.1",
                "completions/bash/demo",
                "completions/zsh/_demo",
                "completions/fish/demo.fish",
            ]
        );
        let page = std::fs::read_to_string(dir.path().join("man/demo.1")).expect("page");
        assert!(
            page.contains(".TH demo 1") && page.contains("verbose"),
            "{page}"
        );
        let sub = std::fs::read_to_string(dir.path().join("man/demo-run.1")).expect("page");
        assert!(sub.contains("Run it"), "{sub}");
        let fish =
            std::fs::read_to_string(dir.path().join("completions/fish/demo.fish")).expect("fish");
        assert!(fish.contains("complete -c demo"), "{fish}");
    }
}
