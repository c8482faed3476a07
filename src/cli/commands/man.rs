//! `keyrot man [DIR]`: one roff page per command (keyrot.1, keyrot-plan.1,
//! keyrot-state-pull.1, …) from clap's command tree. Reads neither the config nor the state.

use crate::cli::exit;
use crate::cli::shell::Shell;
use crate::cli::Cli;
use crate::ops::Error;
use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// Writes a page for keyrot and for every command under it, nested ones included, into
/// `dir` (made if missing), and returns the files written, parents first.
pub fn write_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn write(
        cmd: clap::Command,
        dir: &Path,
        source: &str,
        written: &mut Vec<PathBuf>,
    ) -> std::io::Result<()> {
        let subs: Vec<clap::Command> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .cloned()
            .collect();
        let page = clap_mangen::Man::new(cmd).source(source);
        written.push(page.generate_to(dir)?);
        for sub in subs {
            write(sub, dir, source, written)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir)?;
    // Built once from the top, so each command's name is its full one (keyrot-state-push).
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    // Every page's footer names keyrot and its version (a subcommand has no version).
    let source = format!("keyrot {}", cmd.get_version().unwrap_or_default());
    let mut written = Vec::new();
    write(cmd, dir, &source, &mut written)?;
    Ok(written)
}

pub fn run(shell: &Shell, dir: &Path) -> Result<u8, Error> {
    let written = write_pages(dir).map_err(|e| {
        Error::Invalid(format!(
            "cannot write the man pages into {}: {e}",
            dir.display()
        ))
    })?;
    shell.out(format!(
        "Wrote {} man page(s) into {}:",
        written.len(),
        dir.display()
    ));
    for path in &written {
        shell.out(format!("  {}", path.display()));
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page names clap's tree calls for: keyrot, keyrot-plan, keyrot-state-pull, …
    fn expected(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        let name = if prefix.is_empty() {
            cmd.get_name().to_string()
        } else {
            format!("{prefix}-{}", cmd.get_name())
        };
        for sub in cmd.get_subcommands() {
            expected(sub, &name, out);
        }
        out.push(format!("{name}.1"));
    }

    #[test]
    fn every_command_gets_a_non_empty_page() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_pages(&dir.path().join("man1")).unwrap();
        let mut names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let mut want = Vec::new();
        expected(&Cli::command(), "", &mut want);
        names.sort();
        want.sort();
        assert_eq!(names, want);
        assert!(want.contains(&"keyrot-state-push.1".to_string()));
        for path in &written {
            let page = std::fs::read_to_string(path).unwrap();
            assert!(page.contains(".TH"), "{}: not a roff page", path.display());
            let stem = path.file_stem().unwrap().to_string_lossy();
            assert!(
                page.contains(&*stem),
                "{}: does not name itself",
                path.display()
            );
        }
    }
}
