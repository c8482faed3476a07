use clap::Parser;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The AWS SDK would log response bodies, secrets included, with this set; keyrot's log
    // filter never enables that event, and the switch is gone too. One thread yet.
    std::env::remove_var("LOG_SENSITIVE_BODIES");
    // Terraform spells it `-out FILE`; clap's long options take two dashes.
    let args = std::env::args_os().map(|a| match a.to_str() {
        Some("-out") => "--out".into(),
        Some(s) if s.starts_with("-out=") => format!("-{s}").into(),
        _ => a,
    });
    let cli = keyrot::cli::Cli::parse_from(args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(keyrot::cli::exit::ERROR);
        }
    };
    ExitCode::from(runtime.block_on(keyrot::cli::run(cli)))
}
