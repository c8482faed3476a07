//! Selectors (`users` blocks) against moto: users chosen by path, tags and name patterns,
//! a user joining the group, a user leaving it (state only, its keys untouched), and
//! mistakes reported at their file:line:column.

use crate::common::*;

fn untag(iam: &aws_sdk_iam::Client, name: &str, key: &str) {
    rt().block_on(async {
        iam.untag_user()
            .user_name(name)
            .tag_keys(key)
            .send()
            .await
            .expect("untag user");
    });
}

/// The documented selector, its patterns under the test's own prefix `p`.
fn selector_config(p: &str) -> String {
    format!(
        r#"users "ci" {{
  path_prefix = "/{p}/"
  tags        = {{ rotate = "true" }}
  names       = ["{p}-svc-*", "{p}-deploy-*"]
  exclude     = ["{p}-svc-legacy"]
  access_key {{
    max_age = "30d"
    deliver "file" {{
      path = "secrets/${{user}}.json"
    }}
  }}
}}
"#
    )
}

fn secret_of(project: &Project, user: &str) -> (String, String) {
    let text = std::fs::read_to_string(project.path(&format!("secrets/{user}.json")))
        .unwrap_or_else(|e| panic!("no secret delivered for {user}: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).expect("json sink");
    (
        json["AccessKeyId"].as_str().unwrap().to_string(),
        json["SecretAccessKey"].as_str().unwrap().to_string(),
    )
}

fn tracked(project: &Project) -> Vec<String> {
    let state = project.state_json();
    let mut sets: Vec<String> = state["credential_sets"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    sets.sort();
    sets
}

#[test]
fn users_are_chosen_by_path_tag_and_pattern_and_follow_the_group() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let p = unique_user("sel");
    let path = format!("/{p}/");
    let yes = [("rotate", "true")];
    for name in ["svc-a", "svc-b", "svc-legacy", "deploy-1", "other"] {
        create_user(&iam, &format!("{p}-{name}"), &path, &yes);
    }
    create_user(&iam, &format!("{p}-svc-c"), &path, &[("rotate", "false")]);
    create_user(&iam, &format!("{p}-svc-out"), "/elsewhere/", &yes);
    let project = Project::new(&moto.endpoint, &selector_config(&p));
    let chosen = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .map(|n| format!("user.{p}-{n}.access_key"))
            .collect()
    };

    let plan = project.ok(&["plan", "--json"], None, 0);
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).expect("plan json");
    let sets: Vec<(String, String)> = json["credential_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["address"].as_str().unwrap().to_string(),
                s["selector"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = chosen(&["deploy-1", "svc-a", "svc-b"])
        .into_iter()
        .map(|a| (a, "ci".to_string()))
        .collect();
    assert_eq!(sets, want, "path, tag, names and exclude all apply");
    assert_matches_schema("plan.schema.json", &json);

    let text = project.ok(&["plan"], None, 0);
    assert!(
        text.stdout.contains(&format!(
            "# user.{p}-svc-a.access_key (selector \"ci\", phase: empty)"
        )),
        "{}",
        text.stdout
    );
    project.ok(&["apply", "--auto-approve"], None, 0);
    assert_eq!(tracked(&project), chosen(&["deploy-1", "svc-a", "svc-b"]));
    for n in ["deploy-1", "svc-a", "svc-b"] {
        let user = format!("{p}-{n}");
        let (id, secret) = secret_of(&project, &user);
        assert_eq!(
            whoami(&moto.endpoint, &id, &secret).as_deref(),
            Ok(user.as_str())
        );
    }
    for n in ["svc-c", "svc-legacy", "other", "svc-out"] {
        assert!(
            live_keys(&iam, &format!("{p}-{n}")).is_empty(),
            "{n} was not chosen"
        );
    }

    // A user added to the group appears in the next plan.
    create_user(&iam, &format!("{p}-svc-d"), &path, &yes);
    let next = project.ok(&["plan", "--detailed-exitcode"], None, 2);
    assert!(
        next.stdout
            .contains("Plan: 0 to import, 1 to create, 0 to deactivate, 0 to delete, 3 waiting."),
        "{}",
        next.stdout
    );
    assert!(next.stdout.contains(&format!("user.{p}-svc-d.access_key")));
    project.ok(&["apply", "--auto-approve"], None, 0);

    // A tag removed: the user leaves the group, a state-only change; its key stays.
    let leaver = format!("{p}-svc-b");
    let keys_before = live_keys(&iam, &leaver);
    assert_eq!(keys_before.len(), 1);
    untag(&iam, &leaver, "rotate");
    let gone = project.ok(&["plan", "--detailed-exitcode"], None, 2);
    assert!(
        gone.stdout.contains(&format!("# user.{leaver}.access_key")),
        "{}",
        gone.stdout
    );
    assert!(
        gone.stdout.contains("nor chosen by a selector"),
        "{}",
        gone.stdout
    );
    assert!(
        gone.stdout
            .contains("0 to create, 0 to deactivate, 0 to delete"),
        "{}",
        gone.stdout
    );
    project.ok(&["apply", "--auto-approve"], None, 0);
    assert_eq!(tracked(&project), chosen(&["deploy-1", "svc-a", "svc-d"]));
    assert_eq!(live_keys(&iam, &leaver), keys_before, "IAM untouched");
    assert_eq!(
        secret_of(&project, &leaver).0,
        keys_before[0].0,
        "sink untouched"
    );
    // Only the remaining members' rotations wait.
    project.ok(&["plan", "--detailed-exitcode"], None, 3);

    let (_, secret) = secret_of(&project, &format!("{p}-svc-a"));
    let sinks: Vec<String> = ["deploy-1", "svc-a", "svc-b", "svc-d"]
        .iter()
        .map(|n| format!("secrets/{p}-{n}.json"))
        .collect();
    let sinks: Vec<&str> = sinks.iter().map(String::as_str).collect();
    project.assert_secret_nowhere(&secret, &sinks);
}

#[test]
fn collisions_and_empty_selectors_are_reported_at_their_blocks() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let p = unique_user("selx");
    let path = format!("/{p}/");
    for name in ["svc-a", "svc-b", "svc-own"] {
        create_user(&iam, &format!("{p}-{name}"), &path, &[]);
    }
    let block = |name: &str, criteria: &str| {
        format!(
            "users \"{name}\" {{\n  {criteria}\n  access_key {{\n    deliver \"file\" {{ path = \"secrets/${{user}}.json\" }}\n  }}\n}}\n"
        )
    };
    let own = format!(
        "user \"{p}-svc-own\" {{\n  access_key {{\n    deliver \"file\" {{ path = \"own.json\" }}\n  }}\n}}\n"
    );
    // Lines 1-6: by path; 7-12: by name; 13-17: the user block; 18-23: matches nobody.
    let text = format!(
        "{}{}{own}{}",
        block("by-path", &format!("path_prefix = \"{path}\"")),
        block("by-name", &format!("names = [\"{p}-svc-*\"]")),
        block("nobody", &format!("names = [\"{p}-nobody-*\"]")),
    );
    let project = Project::new(&moto.endpoint, &text);
    let run = project.ok(&["plan"], None, 1);
    assert!(
        run.stderr.contains(&format!(
            "keyrot.hcl:7:1: selectors `by-path` and `by-name` both match user(s) {p}-svc-a, {p}-svc-b"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("keyrot.hcl:1:1"),
        "names the first: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("svc-own"),
        "a user block wins: {}",
        run.stderr
    );
    assert!(
        !project.path("state/keyrot.json").exists(),
        "state untouched"
    );
    let apply = project.ok(&["apply", "--auto-approve"], None, 1);
    assert!(apply.stderr.contains("both match"), "{}", apply.stderr);
    assert!(
        !project.path("state/keyrot.json").exists(),
        "state untouched"
    );

    // Without the overlap: a warning for the selector that matches nobody.
    let fixed = text.replace(
        &format!("names = [\"{p}-svc-*\"]"),
        &format!("names = [\"{p}-svc-b\"]"),
    );
    let fixed = fixed.replace(
        &format!("path_prefix = \"{path}\""),
        &format!("path_prefix = \"{path}\"\n  exclude = [\"{p}-svc-b\"]"),
    );
    std::fs::write(project.path("keyrot.hcl"), fixed).unwrap();
    let run = project.ok(&["plan", "--json"], None, 0);
    assert!(
        run.stderr
            .contains("keyrot.hcl:19:1: selector `nobody` matches no IAM user"),
        "{}",
        run.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let origins: Vec<(String, serde_json::Value)> = json["credential_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["address"].as_str().unwrap().to_string(),
                s["selector"].clone(),
            )
        })
        .collect();
    assert_eq!(
        origins,
        vec![
            (format!("user.{p}-svc-a.access_key"), "by-path".into()),
            (format!("user.{p}-svc-b.access_key"), "by-name".into()),
            (
                format!("user.{p}-svc-own.access_key"),
                serde_json::Value::Null
            ),
        ]
    );
}

#[test]
fn a_saved_plan_is_refused_when_the_group_changed() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let p = unique_user("selp");
    let path = format!("/{p}/");
    let yes = [("rotate", "true")];
    create_user(&iam, &format!("{p}-svc-a"), &path, &yes);
    let project = Project::new(&moto.endpoint, &selector_config(&p));
    project.ok(&["plan", "-out", "plan.json"], None, 0);
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.path("plan.json")).unwrap()).unwrap();
    assert_eq!(
        file["selections"]["ci"],
        serde_json::json!([format!("{p}-svc-a")])
    );
    assert_eq!(file["credential_sets"][0]["selector"], "ci");

    create_user(&iam, &format!("{p}-svc-new"), &path, &yes);
    let run = project.ok(&["apply", "plan.json"], None, 5);
    assert!(
        run.stderr
            .contains(&format!("user {p}-svc-new now matches selector `ci`")),
        "{}",
        run.stderr
    );
    assert!(
        live_keys(&iam, &format!("{p}-svc-a")).is_empty(),
        "nothing applied"
    );

    // Planned again with the new member, the plan applies.
    project.ok(&["plan", "-out", "plan2.json"], None, 0);
    project.ok(&["apply", "plan2.json"], None, 0);
    assert_eq!(live_keys(&iam, &format!("{p}-svc-new")).len(), 1);
}
