//! keyrot's own work at fleet scale, IAM aside: parse 100,000 credential sets' config (a
//! directory of 100 files), plan them against an in-memory inventory and state, and render
//! the plan as text, JSON or markdown, as one `keyrot plan` run does. Goal: under 0.5 s and
//! 200 MB on one core, for each of the three outputs.
//!
//! `cargo bench --bench plan` (README, "Speed at fleet scale", has the figures);
//! `KEYROT_BENCH_SETS=2000` for a quick run.

#[path = "plan/pipeline.rs"]
mod pipeline;

use keyrot::core::model::Inventory;
use keyrot::core::state::State;
use pipeline::{parse, plan, render_one, sets, sources, world};

#[global_allocator]
static ALLOC: divan::AllocProfiler<mimalloc::MiMalloc> =
    divan::AllocProfiler::new(mimalloc::MiMalloc); // keyrot's own allocator (`src/main.rs`)

fn main() {
    divan::main();
}

/// The whole pipeline, as `keyrot plan` (`--json`, `--format markdown`) runs it once IAM
/// has answered.
#[divan::bench(args = ["text", "json", "markdown"], sample_count = 5, sample_size = 1)]
fn parse_plan_render(bencher: divan::Bencher, output: &str) {
    bencher
        .with_inputs(|| (sources(), world()))
        .bench_values(|(sources, (inventory, state))| {
            let config = parse(&sources);
            let plan = plan(&config, &inventory, &state);
            render_one(&plan, output)
        });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn parse_only(bencher: divan::Bencher) {
    bencher.with_inputs(sources).bench_values(|s| parse(&s));
}

/// hcl-edit's parse of the same files into its own trees: what reading them cost before
/// the fast parser (`config::syntax`), and still costs a file it declines.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn parse_hcl_trees_only(bencher: divan::Bencher) {
    bencher.with_inputs(sources).bench_values(|sources| {
        let trees = sources
            .iter()
            .map(|s| hcl::edit::parser::parse_body(&s.text));
        trees.filter(Result::is_ok).count()
    });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn plan_only(bencher: divan::Bencher) {
    let config = parse(&sources());
    let (inventory, state) = world();
    bencher.bench(|| plan(&config, &inventory, &state));
}

/// Each rendering alone.
#[divan::bench(args = ["text", "json", "markdown"], sample_count = 5, sample_size = 1)]
fn render_only(bencher: divan::Bencher, output: &str) {
    let config = parse(&sources());
    let (inventory, state) = world();
    let plan = plan(&config, &inventory, &state);
    bencher.bench(|| render_one(&plan, output));
}

/// The inputs alone: the config files, and the inventory and state IAM and the state file
/// would hand the planner (their heap, beside the pipeline's).
#[divan::bench(sample_count = 1, sample_size = 1)]
fn inputs() -> (Vec<keyrot::core::config::Source>, (Inventory, State)) {
    (sources(), world())
}

/// The sets a plan covers (a sanity check that the bench plans what it says).
#[divan::bench(sample_count = 1, sample_size = 1)]
fn sets_planned() -> usize {
    let config = parse(&sources());
    let (inventory, state) = world();
    let planned = plan(&config, &inventory, &state);
    assert_eq!(planned.sets.len(), sets());
    let due = planned.sets.iter().filter(|s| !s.actions.is_empty());
    assert_eq!(due.count(), sets().div_ceil(10));
    // `KEYROT_BENCH_DUMP=DIR`: the three renderings as files, to compare runs byte for byte.
    if let Some(dir) = std::env::var_os("KEYROT_BENCH_DUMP") {
        pipeline::dump(&planned, std::path::Path::new(&dir));
    }
    planned.sets.len()
}
