//! Test harness: one moto server per test binary on a free loopback port, the real
//! keyrot binary run in a temp directory, and an independent SDK client to check IAM.
#![allow(dead_code)]

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_iam::Client;
use chrono::{DateTime, Duration, Utc};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

pub struct Moto {
    pub endpoint: String,
    /// The watchdog shell; it stops moto when the test process exits.
    _watchdog: std::process::Child,
}

/// Finds moto_server: KEYROT_MOTO_SERVER, the project venv, then PATH. Fails loudly.
fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYROT_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.exists())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "moto_server not found: these tests need moto's IAM server. \
             Run `scripts/test` (it installs moto into .venv), or set KEYROT_MOTO_SERVER"
        )
    })
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local addr").port()
}

impl Moto {
    /// Starts moto with extra environment; it dies with the test process.
    pub fn start(env: &[(&str, &str)]) -> Moto {
        let moto = moto_binary();
        let port = free_port();
        // A watchdog shell stops moto when this test process is gone.
        let script = format!(
            "\"$0\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; trap 'kill $m 2>/dev/null' EXIT; \
             while kill -0 {pid} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done",
            pid = std::process::id()
        );
        let mut cmd = Command::new("bash");
        cmd.arg("-c").arg(script).arg(&moto);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let watchdog = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", moto.display()));
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed().as_secs() < 30,
                "moto_server ({}) did not listen on 127.0.0.1:{port} within 30 s",
                moto.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _watchdog: watchdog,
        }
    }

    /// The shared server of this test binary.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(|| Moto::start(&[]))
    }
}

/// An IAM client signed with the given key, independent of keyrot.
pub fn client(endpoint: &str, key_id: &str, secret: &str) -> Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key_id, secret, None, None, "test"))
        .build();
    Client::from_conf(conf)
}

pub fn admin(endpoint: &str) -> Client {
    client(endpoint, "testing", "testing")
}

/// A unique user name per test, so tests share one moto server without interfering.
pub fn unique_user(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct SeededKey {
    pub id: String,
    pub secret: String,
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Creates a user with one access key, as a pre-existing setup keyrot will adopt.
pub fn seed_user(iam: &Client, user: &str) -> SeededKey {
    rt().block_on(async {
        iam.create_user()
            .user_name(user)
            .send()
            .await
            .expect("create user");
        let out = iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .expect("create key");
        let key = out.access_key().expect("key");
        SeededKey {
            id: key.access_key_id().to_string(),
            secret: key.secret_access_key().to_string(),
        }
    })
}

/// Creates `name` under `path` with `tags` (no keys).
pub fn create_user(iam: &aws_sdk_iam::Client, name: &str, path: &str, tags: &[(&str, &str)]) {
    let tags: Vec<aws_sdk_iam::types::Tag> = tags
        .iter()
        .map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build()
                .expect("tag")
        })
        .collect();
    rt().block_on(async {
        iam.create_user()
            .user_name(name)
            .path(path)
            .set_tags(Some(tags))
            .send()
            .await
            .expect("create user");
    });
}

/// (key id, status) of the user's keys, as IAM itself reports them.
pub fn live_keys(iam: &Client, user: &str) -> Vec<(String, String)> {
    rt().block_on(async {
        let out = iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .expect("list keys");
        let mut keys: Vec<_> = out
            .access_key_metadata()
            .iter()
            .map(|m| {
                (
                    m.access_key_id().unwrap_or_default().to_string(),
                    m.status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        keys.sort();
        keys
    })
}

pub fn set_status(iam: &Client, user: &str, key: &str, status: &str) {
    rt().block_on(async {
        iam.update_access_key()
            .user_name(user)
            .access_key_id(key)
            .status(status.into())
            .send()
            .await
            .expect("update key");
    })
}

/// Signs a request with the key: GetUser with no name answers as the key's own user.
pub fn whoami(endpoint: &str, key_id: &str, secret: &str) -> Result<String, String> {
    rt().block_on(async {
        client(endpoint, key_id, secret)
            .get_user()
            .send()
            .await
            .map(|o| {
                o.user()
                    .map(|u| u.user_name().to_string())
                    .unwrap_or_default()
            })
            .map_err(|e| aws_sdk_iam::error::DisplayErrorContext(&e).to_string())
    })
}

pub fn days_from_now(days: i64) -> DateTime<Utc> {
    Utc::now() + Duration::days(days)
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A scratch project directory with a config, where keyrot runs.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub endpoint: String,
    /// Everything keyrot printed, for secret searches.
    pub transcript: std::cell::RefCell<Vec<u8>>,
    /// Set in keyrot's environment after the defaults, for every run (`with_env`; who
    /// runs keyrot, a CI run).
    pub env: std::cell::RefCell<Vec<(String, String)>>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Project {
    pub fn new(endpoint: &str, config: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("keyrot.hcl"), config).expect("write config");
        Project {
            dir,
            endpoint: endpoint.to_string(),
            transcript: Default::default(),
            env: Default::default(),
        }
    }

    /// Every run gets `name=value` (over the harness's own value, if it sets one).
    pub fn with_env(mut self, name: &str, value: &str) -> Project {
        self.env
            .get_mut()
            .push((name.to_string(), value.to_string()));
        self
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn command(&self, args: &[&str], now: Option<DateTime<Utc>>) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyrot"));
        cmd.current_dir(self.dir.path())
            .args(args)
            .arg("--endpoint-url")
            .arg(&self.endpoint)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.path("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.path("no-aws-credentials"),
            );
        cmd.envs(self.env.borrow().iter().map(|(k, v)| (k, v)));
        if let Some(now) = now {
            // Tests move keyrot's clock on purpose.
            cmd.env("KEYROT_NOW", rfc3339(now))
                .arg("--allow-clock-override");
        }
        cmd
    }

    /// Runs keyrot with `now` on its clock; records the output.
    pub fn run(&self, args: &[&str], now: Option<DateTime<Utc>>) -> Run {
        self.run_env(args, now, &[])
    }

    /// [`Project::run`] with `env` added to keyrot's environment.
    pub fn run_env(&self, args: &[&str], now: Option<DateTime<Utc>>, env: &[(&str, &str)]) -> Run {
        let out: Output = self
            .command(args, now)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run keyrot");
        let mut t = self.transcript.borrow_mut();
        t.extend_from_slice(&out.stdout);
        t.extend_from_slice(&out.stderr);
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts the exit code, printing the output on mismatch.
    pub fn ok(&self, args: &[&str], now: Option<DateTime<Utc>>, code: i32) -> Run {
        let run = self.run(args, now);
        assert_eq!(
            run.code, code,
            "keyrot {args:?} exited {} (want {code})\n--- stdout\n{}\n--- stderr\n{}",
            run.code, run.stdout, run.stderr
        );
        if matches!(code, 0 | 2 | 3) {
            self.assert_files_match_schemas(args);
        }
        run
    }

    /// Every state file a successful writing command leaves, every event line, and every
    /// saved plan, matches its published schema.
    fn assert_files_match_schemas(&self, args: &[&str]) {
        self.assert_events_match_schema();
        let writes_state = matches!(args.first(), Some(&("apply" | "rollback" | "resume")));
        let state = self.path("state/keyrot.json");
        if let Some(text) = writes_state
            .then(|| std::fs::read_to_string(&state).ok())
            .flatten()
        {
            let json = serde_json::from_str(&text).expect("state is JSON");
            assert_matches_schema("state.schema.json", &json);
        }
        let out = args
            .iter()
            .position(|a| *a == "-out" || *a == "--out")
            .and_then(|i| args.get(i + 1));
        if let Some(file) = out {
            let text = std::fs::read_to_string(self.path(file)).expect("saved plan");
            let json = serde_json::from_str(&text).expect("saved plan is JSON");
            assert_matches_schema("plan-file.schema.json", &json);
        }
    }

    /// Every whole line of the local event log matches the event schema (a torn last line,
    /// one without its newline, is the reader's to report).
    pub fn assert_events_match_schema(&self) {
        let Ok(text) = std::fs::read_to_string(self.path("state/keyrot.json.events.jsonl")) else {
            return;
        };
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            let json = serde_json::from_str(line).expect("an event line is JSON");
            assert_matches_schema("event.schema.json", &json);
        }
    }

    /// The local event log's events, as JSON.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.path("state/keyrot.json.events.jsonl"))
            .unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("an event line is JSON"))
            .collect()
    }

    pub fn state_json(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path("state/keyrot.json")).expect("state file");
        serde_json::from_str(&text).expect("state parses")
    }

    /// Asserts `secret` appears in nothing keyrot wrote or printed except the sink files.
    pub fn assert_secret_nowhere(&self, secret: &str, sinks: &[&str]) {
        assert!(
            !String::from_utf8_lossy(&self.transcript.borrow()).contains(secret),
            "secret leaked to stdout/stderr"
        );
        let sink_paths: Vec<PathBuf> = sinks.iter().map(|s| self.path(s)).collect();
        let mut stack = vec![self.dir.path().to_path_buf()];
        let mut searched = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if !sink_paths.contains(&path) {
                    let bytes = std::fs::read(&path).expect("read file");
                    searched += 1;
                    assert!(
                        !String::from_utf8_lossy(&bytes).contains(secret),
                        "secret leaked into {}",
                        path.display()
                    );
                }
            }
        }
        assert!(searched > 0, "searched no files");
    }
}

/// Feeds `input` to a spawned keyrot (for the confirmation prompt).
pub fn with_stdin(mut cmd: Command, input: &str) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Validates `instance` against a published schema under state/schema/.
pub fn assert_matches_schema(schema_file: &str, instance: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("state/schema")
        .join(schema_file);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("schema file"))
            .expect("schema json");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{schema_file}: {errors:#?}\n{instance:#}"
    );
}
pub mod http_server;
pub mod proxy;

/// `cmd` run under a pseudo-terminal (util-linux `script`), so keyrot sees a terminal on
/// stdin; what is written to the child's stdin reaches keyrot as typed.
pub fn under_a_terminal(cmd: &std::process::Command) -> std::process::Command {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = std::process::Command::new("script");
    script.args(["-qfec", &format!("exec {line}"), "/dev/null"]);
    script.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        script.current_dir(dir);
    }
    script
}
