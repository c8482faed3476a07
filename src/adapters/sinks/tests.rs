//! Delivery, put-back and redaction, each sink against in-memory or temp-dir stores.

use super::*;
use crate::core::config::SecretFormat;
use std::future::Future;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn cred<'a>(id: &'a KeyId, secret: &'a SecretString) -> Credential<'a> {
    Credential {
        user: "ci",
        key_id: id,
        material: Material::AccessKey { secret },
        created: "2026-01-01T00:00:00Z".parse().unwrap(),
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Delivers `c` to `sinks` in keyrot's own account, with no remote and no stdout.
fn deliver_here(sinks: &[Sink], c: &Credential<'_>) -> Result<Vec<String>, SinkError> {
    block_on(deliver(
        &Accounts::single(NoRemote),
        sinks,
        c,
        &mut Vec::new(),
        &mut |_| Box::pin(async { Ok(()) }),
    ))
}

/// A command sink running `script` under `sh -c`, JSON on stdin, 10 s, no extra env.
fn sh(script: &str) -> Sink {
    Sink::Exec {
        command: vec!["sh".into(), "-c".into(), script.into()],
        timeout: crate::core::duration::Window::from_secs(10),
        format: SecretFormat::Json,
        env: Default::default(),
    }
}

#[test]
fn formats_hold_id_and_secret() {
    let id = KeyId("AKIATEST".into());
    let secret = SecretString::from(SECRET.to_string());
    let json: serde_json::Value =
        serde_json::from_str(&format::render(SecretFormat::Json, &cred(&id, &secret))).unwrap();
    assert_eq!(json["SecretAccessKey"], SECRET);
    assert_eq!(json["Version"], 1);
    assert_eq!(json["AccessKeyId"], "AKIATEST");
    let ini = format::render(SecretFormat::Credentials, &cred(&id, &secret));
    assert!(ini.contains("aws_access_key_id = AKIATEST\n"));
    let env = format::render(SecretFormat::Env, &cred(&id, &secret));
    assert!(env.contains(&format!("AWS_SECRET_ACCESS_KEY={SECRET}")));
}

#[test]
fn profile_update_keeps_everything_else() {
    let id = KeyId("AKIANEW".into());
    let secret = SecretString::from(SECRET.to_string());
    let before = "# team creds\n[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = d\n\n[ci]\n# rotated by keyrot\nregion = eu-west-1\naws_access_key_id = AKIAOLD\naws_secret_access_key = old\naws_session_token = stale\n\n[other]\naws_access_key_id = AKIAOTH\n";
    let after = profile::update_profile(before, "ci", &cred(&id, &secret));
    let expected = format!("# team creds\n[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = d\n\n[ci]\naws_access_key_id = AKIANEW\naws_secret_access_key = {SECRET}\n# rotated by keyrot\nregion = eu-west-1\n\n[other]\naws_access_key_id = AKIAOTH\n");
    assert_eq!(*after, expected);
    let appended = profile::update_profile("[default]\nx = 1\n", "ci", &cred(&id, &secret));
    assert!(
        appended.ends_with(&format!(
            "\n\n[ci]\naws_access_key_id = AKIANEW\naws_secret_access_key = {SECRET}\n"
        )),
        "{}",
        *appended
    );
}

#[test]
fn failed_sink_puts_earlier_files_back() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(&good, "old").unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let sinks = vec![
        Sink::File {
            path: good.clone(),
            format: SecretFormat::Json,
        },
        Sink::File {
            path: blocker.join("f.json"),
            format: SecretFormat::Json,
        },
    ];
    let id = KeyId("AKIATEST".into());
    let secret = SecretString::from(SECRET.to_string());
    let c = cred(&id, &secret);
    let err = deliver_here(&sinks, &c).unwrap_err();
    assert!(err.sink.contains("not-a-dir"));
    assert!(err.still_holding.is_empty());
    assert_eq!(std::fs::read_to_string(&good).unwrap(), "old");
    assert!(!err.to_string().contains(SECRET));
}

#[test]
fn a_private_key_echoed_as_json_is_masked() {
    let key = SecretString::from(
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\nAbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij\n-----END PRIVATE KEY-----\n".to_string(),
    );
    let id = KeyId("CERTID".into());
    let c = Credential {
        user: "ci",
        key_id: &id,
        material: Material::Certificate {
            certificate_pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            private_key_pem: &key,
        },
        created: "2026-01-01T00:00:00Z".parse().unwrap(),
    };
    let sink = sh("cat >&2; exit 1");
    let err = deliver_here(&[sink], &c).unwrap_err();
    let text = err.to_string();
    assert!(
        !text.contains("MIGHAgEAMBMG") && !text.contains("AbCdEfGhIjKl"),
        "{text}"
    );
    assert!(text.contains("[REDACTED]"), "{text}");
}

#[test]
fn exec_gets_json_on_stdin_and_failures_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("got.json");
    let id = KeyId("AKIATEST".into());
    let secret = SecretString::from(SECRET.to_string());
    let c = cred(&id, &secret);
    let ok = Sink::Exec {
        command: vec!["sh".into(), "-c".into(), format!("cat > {}", out.display())],
        timeout: crate::core::duration::Window::from_secs(10),
        format: SecretFormat::Json,
        env: Default::default(),
    };
    deliver_here(&[ok], &c).unwrap();
    let got: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(got["SecretAccessKey"], SECRET);
    let loud = sh("cat >&2; exit 3");
    let err = deliver_here(&[loud], &c).unwrap_err();
    assert!(err.message.contains("exit status: 3"), "{err}");
    assert!(
        err.message.contains("[REDACTED]") && !err.to_string().contains(SECRET),
        "{err}"
    );
    assert_eq!(err.still_holding, vec!["exec sh".to_string()]);
    let slow = Sink::Exec {
        command: vec!["sleep".into(), "5".into()],
        timeout: crate::core::duration::Window::from_secs(1),
        format: SecretFormat::Json,
        env: Default::default(),
    };
    let err = deliver_here(&[slow], &c).unwrap_err();
    assert!(err.message.contains("did not finish within 1s"), "{err}");
}

#[test]
fn an_unreadable_credentials_file_fails_its_sink_and_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    // Not a readable file (root reads through permissions, so a directory stands in
    // for EACCES/EIO): never treated as an empty file to be replaced.
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("keep"), "x").unwrap();
    let sinks = vec![Sink::AwsProfile {
        file: creds.clone(),
        profile: "ci".into(),
    }];
    let id = KeyId("AKIATEST".into());
    let secret = SecretString::from(SECRET.to_string());
    let c = cred(&id, &secret);
    let err = deliver_here(&sinks, &c).unwrap_err();
    assert!(err.message.contains("cannot read"), "{err}");
    assert!(creds.join("keep").exists(), "left as it was");
}

#[test]
fn exec_gets_a_clean_environment_plus_what_the_block_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env.txt");
    let id = KeyId("AKIATEST".into());
    let secret = SecretString::from(SECRET.to_string());
    let c = cred(&id, &secret);
    let sink = Sink::Exec {
        command: vec!["sh".into(), "-c".into(), format!("env > {}", out.display())],
        timeout: crate::core::duration::Window::from_secs(10),
        format: SecretFormat::Json,
        env: crate::core::config::ExecEnv {
            set: [("RELOAD_TARGET".to_string(), "web".to_string())].into(),
            // Cargo sets it for every test process.
            pass: vec!["CARGO_PKG_NAME".into()],
        },
    };
    deliver_here(&[sink], &c).unwrap();
    let env = std::fs::read_to_string(&out).unwrap();
    let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    assert!(env.contains("RELOAD_TARGET=web\n"), "{env}");
    assert!(env.contains("CARGO_PKG_NAME=keyrot\n"), "{env}");
    assert!(names.contains(&"PATH"), "{env}");
    // Nothing else of keyrot's: cargo's own variables, AWS settings, keyrot's.
    let leaked: Vec<_> = names
        .iter()
        .filter(|n| {
            (n.starts_with("CARGO") && **n != "CARGO_PKG_NAME")
                || n.starts_with("AWS_")
                || n.starts_with("KEYROT_")
                || n.starts_with("RUST")
        })
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}

#[test]
fn the_secret_is_masked_in_its_encoded_forms() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use base64::Engine;
    let id = KeyId("AKIATEST".into());
    let secret = SecretString::from(SECRET.to_string());
    let c = cred(&id, &secret);
    let url = percent_encoded(SECRET, false);
    let json = serde_json::json!({"SecretAccessKey": SECRET}).to_string();
    let mut echoed = vec![url.to_string(), percent_encoded(SECRET, true).to_string()];
    for engine in [&STANDARD, &URL_SAFE] {
        for prefix in ["", "x", "xy", "{\"a\":1,"] {
            echoed.push(engine.encode(format!("{prefix}{json}")));
        }
    }
    for text in &echoed {
        let shown = redact(&format!("hook said: {text}"), &c);
        assert!(shown.contains("[REDACTED]"), "not masked: {shown}");
        // Nothing of the secret's encodings survives the masking.
        for form in secret_forms(SECRET) {
            assert!(!shown.contains(form.as_str()), "{shown}");
        }
    }
}

/// Remembers SSM parameters with their settings and every put and restore.
#[derive(Default)]
struct SsmRecorder {
    params: std::sync::Mutex<std::collections::BTreeMap<String, (String, ParameterMeta)>>,
    puts: std::sync::Mutex<Vec<Option<String>>>,
    restores: std::sync::Mutex<Vec<ParameterMeta>>,
}

impl Remote for SsmRecorder {
    async fn secret_get(&self, _: &str, _: bool) -> Result<Option<Zeroizing<String>>, String> {
        Ok(None)
    }
    async fn secret_put(&self, _: &str, _: &str, _: bool) -> Result<(), String> {
        Err("unused".into())
    }
    async fn secret_delete(&self, _: &str) -> Result<(), String> {
        Err("unused".into())
    }
    async fn parameter_get(&self, name: &str) -> Result<Option<Zeroizing<String>>, String> {
        let params = self.params.lock().unwrap();
        Ok(params.get(name).map(|(v, _)| Zeroizing::new(v.clone())))
    }
    async fn parameter_meta(&self, name: &str) -> Result<Option<ParameterMeta>, String> {
        Ok(self
            .params
            .lock()
            .unwrap()
            .get(name)
            .map(|(_, m)| m.clone()))
    }
    async fn parameter_put(
        &self,
        name: &str,
        value: &str,
        key: Option<&str>,
    ) -> Result<(), String> {
        self.puts.lock().unwrap().push(key.map(str::to_string));
        let mut params = self.params.lock().unwrap();
        let meta = ParameterMeta {
            key_id: key.map(str::to_string),
            ..Default::default()
        };
        params.insert(name.to_string(), (value.to_string(), meta));
        Ok(())
    }
    async fn parameter_restore(
        &self,
        name: &str,
        value: &str,
        meta: &ParameterMeta,
    ) -> Result<(), String> {
        self.restores.lock().unwrap().push(meta.clone());
        let mut params = self.params.lock().unwrap();
        params.insert(name.to_string(), (value.to_string(), meta.clone()));
        Ok(())
    }
    async fn parameter_delete(&self, _: &str) -> Result<(), String> {
        Err("unused".into())
    }
    async fn caller_arn(&self, _: &str, _: &SecretString) -> Result<String, String> {
        Err("unused".into())
    }
}

#[test]
fn an_ssm_parameter_keeps_its_kms_key_tier_and_description_through_delivery_and_restore() {
    let protected = ParameterMeta {
        key_id: Some("alias/team-cmk".into()),
        tier: Some("Advanced".into()),
        description: Some("read by the deploy role only".into()),
    };
    let remote = SsmRecorder::default();
    remote
        .params
        .lock()
        .unwrap()
        .insert("/ci/key".into(), ("the old key".into(), protected.clone()));
    let sinks = vec![
        Sink::SsmParameter {
            account: None,
            name: "/ci/key".into(),
            kms_key_id: None,
            format: SecretFormat::Json,
        },
        sh("exit 1"),
    ];
    let id = KeyId("AKIATEST".into());
    let secret = SecretString::from(SECRET.to_string());
    let c = cred(&id, &secret);
    let remotes = Accounts::single(remote);
    let remote = remotes.base();
    let err = block_on(deliver(&remotes, &sinks, &c, &mut Vec::new(), &mut |_| {
        Box::pin(async { Ok(()) })
    }))
    .unwrap_err();
    assert!(err.sink.starts_with("exec"), "{err}");
    // The new key went in under the parameter's own key, not alias/aws/ssm…
    assert_eq!(
        *remote.puts.lock().unwrap(),
        vec![Some("alias/team-cmk".to_string())]
    );
    // …and the old value came back with every setting it had.
    assert_eq!(*remote.restores.lock().unwrap(), vec![protected.clone()]);
    let params = remote.params.lock().unwrap();
    assert_eq!(params["/ci/key"], ("the old key".to_string(), protected));
}
