//! One file per command: each reads its arguments, calls ops, and renders the outcome.
//! No business logic here.

pub mod apply;
pub mod audit;
pub mod init;
pub mod plan;
pub mod resume;
pub mod rollback;
pub mod show;
pub mod status;
pub mod unlock;
pub mod validate;

use crate::cli::shell::Shell;
use crate::ops::session::Recovered;

/// Says what settling an interrupted step found, before the command's own output.
pub fn say_recovered(shell: &Shell, recovered: &Option<Recovered>) {
    let Some(r) = recovered else { return };
    shell.out(format!(
        "Recovered an interrupted {:?} of {}:",
        r.intent.op, r.intent.address
    ));
    if r.said.is_empty() {
        shell.out("  nothing had changed in IAM");
    }
    for line in &r.said {
        shell.out(format!("  {line}"));
    }
    shell.out("");
}
