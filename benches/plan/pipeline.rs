//! The workload of `benches/plan.rs`: 100,000 credential sets' config as a directory of
//! files, the live inventory and state IAM and the state file would hand the planner, and
//! the planner and renderers over them.

use chrono::{DateTime, Duration, Utc};
use keyrot::cli::render::{self, FmtIo, Style};
use keyrot::core::config::{self, Config, Source};
use keyrot::core::model::{Address, CredentialKind, Inventory, KeyId, KeyIds, KeyStatus, LiveKey};
use keyrot::core::plan::{Plan, PlanOptions};
use keyrot::core::planner;
use keyrot::core::state::{SetState, State, TrackedKey};
use std::io::Write as _;

/// How many sets: `KEYROT_BENCH_SETS`, else 100,000 under `cargo bench` and 1,000 when
/// `cargo test --all-targets` runs each bench once as a test (unoptimised: keep it quick).
pub fn sets() -> usize {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    std::env::var("KEYROT_BENCH_SETS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if benchmarking { 100_000 } else { 1_000 })
}

const PER_FILE: usize = 1_000;

pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}

/// 100 files of 1,000 users, each with an access key delivered to a file.
pub fn sources() -> Vec<Source> {
    (0..sets().div_ceil(PER_FILE))
        .map(|f| {
            let mut text = String::with_capacity(PER_FILE * 120);
            if f == 0 {
                text.push_str("defaults {\n  max_age = \"90d\"\n  overlap = \"7d\"\n}\n");
            }
            for u in f * PER_FILE..((f + 1) * PER_FILE).min(sets()) {
                text.push_str(&format!(
                    "user \"svc-{u:06}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"secrets/svc-{u:06}.json\"\n    }}\n  }}\n}}\n"
                ));
            }
            Source {
                name: format!("users-{f:03}.hcl"),
                text,
            }
        })
        .collect()
}

/// Every set tracked and live with one key; one in ten is past `max_age` (a create is
/// due), the rest wait. What IAM and the state file would have handed the planner.
pub fn world() -> (Inventory, State) {
    let mut inventory = Inventory::default();
    let mut state = State {
        lineage: "bench".into(),
        serial: 1,
        sets: Default::default(),
        applied_plans: Vec::new(),
    };
    for u in 0..sets() {
        let address = Address {
            account: None,
            user: format!("svc-{u:06}"),
            kind: CredentialKind::AccessKey,
        };
        let age = if u % 10 == 0 { 100 } else { 10 };
        let born = now() - Duration::days(age);
        let id = KeyId(format!("AKIA{u:016}"));
        inventory
            .credentials
            .insert(address.clone(), live(&id, born));
        state.sets.insert(address, steady(&id, born));
    }
    (inventory, state)
}

fn live(id: &KeyId, born: DateTime<Utc>) -> Vec<LiveKey> {
    vec![LiveKey {
        id: id.clone(),
        status: KeyStatus::Active,
        created: born,
        cert: None,
    }]
}

fn steady(id: &KeyId, born: DateTime<Utc>) -> SetState {
    SetState {
        current: Some(TrackedKey {
            id: id.clone(),
            status: KeyStatus::Active,
            born,
            status_since: born,
            delivered: None,
        }),
        ..SetState::default()
    }
}

pub fn parse(sources: &[Source]) -> Config {
    match config::parse(sources) {
        Ok(config) => config,
        Err(problems) => panic!("bench config invalid: {}", problems[0]),
    }
}

pub fn plan(config: &Config, inventory: &Inventory, state: &State) -> Plan {
    planner::plan(config, inventory, state, now(), &PlanOptions::default())
}

/// One rendering, written as `keyrot plan` writes it (text and JSON streamed, markdown
/// whole: it is cut to a PR comment's size), into a counter standing in for stdout; its
/// length, so nothing is optimised away.
pub fn render_one(plan: &Plan, output: &str) -> usize {
    let mut out = Counter(0);
    match output {
        "text" => render::text::write_plan(&mut out, plan, Style { color: false }, KeyIds::Masked),
        "json" => render::json::write_plan_pretty(&mut out, plan, None, KeyIds::Masked)
            .expect("a counter takes every byte"),
        _ => out.0 = render::markdown::plan(plan, None, KeyIds::Masked).len(),
    }
    out.0
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The three renderings as `plan.txt`, `plan.json` and `plan.md` in `dir`.
pub fn dump(plan: &Plan, dir: &std::path::Path) {
    // Written as `keyrot plan` writes them: text and JSON streamed.
    let create = |name: &str| {
        let file = std::fs::File::create(dir.join(name)).expect("create a bench dump file");
        std::io::BufWriter::new(file)
    };
    let mut text = FmtIo::new(create("plan.txt"));
    render::text::write_plan(&mut text, plan, Style { color: false }, KeyIds::Masked);
    text.finish().expect("write plan.txt");
    let mut json = create("plan.json");
    render::json::write_plan_pretty(&mut json, plan, None, KeyIds::Masked)
        .expect("write plan.json");
    json.flush().expect("write plan.json");
    let markdown = render::markdown::plan(plan, None, KeyIds::Masked);
    std::fs::write(dir.join("plan.md"), markdown).expect("write plan.md");
}
