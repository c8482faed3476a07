//! `keyrot completions SHELL`: the shell's completion script, generated from clap's
//! command tree, on stdout. Reads neither the config nor the state.

use crate::cli::exit;
use crate::cli::shell::Shell;
use crate::cli::Cli;
use crate::ops::Error;
use clap::CommandFactory;

/// The completion script for `target`, as text.
pub fn script(target: clap_complete::Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(target, &mut Cli::command(), "keyrot", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub fn run(shell: &Shell, target: clap_complete::Shell) -> Result<u8, Error> {
    shell.print(script(target));
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_shell_gets_a_script_that_knows_the_commands() {
        for target in clap_complete::Shell::value_variants() {
            let text = script(*target);
            assert!(!text.trim().is_empty(), "{target}: empty script");
            for name in ["plan", "apply", "force-unlock"] {
                assert!(text.contains(name), "{target}: no `{name}` in the script");
            }
        }
    }
}
