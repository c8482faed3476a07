//! Globs, the shared listing and expansion: precedence, collisions, empty selectors.

use super::*;
use crate::core::config::{parse, OnConfirmFailure, Source};

fn config(text: &str) -> Config {
    parse(&[Source {
        name: "fleet.hcl".into(),
        text: text.into(),
    }])
    .unwrap_or_else(|e| panic!("{e:#?}"))
}

fn user(name: &str, path: &str, tags: &[(&str, &str)]) -> IamUser {
    IamUser {
        name: name.into(),
        path: path.into(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// A selector block with the given criteria and one secrets_manager sink per user.
fn selector(name: &str, criteria: &str) -> String {
    format!(
        r#"
users "{name}" {{
  {criteria}
  access_key {{
    max_age = "30d"
    deliver "secrets_manager" {{
      secret_id = "{name}/${{user}}/aws"
      create    = true
    }}
  }}
}}
"#
    )
}

fn fleet() -> Vec<IamUser> {
    vec![
        user("svc-a", "/ci/", &[("rotate", "true")]),
        user("svc-b", "/ci/", &[("rotate", "false")]),
        user("svc-legacy", "/ci/", &[("rotate", "true")]),
        user(
            "deploy-1",
            "/ci/deploy/",
            &[("rotate", "true"), ("team", "x")],
        ),
        user("alice", "/", &[("rotate", "true")]),
    ]
}

/// Users listed in keyrot's own account only.
fn own(users: Vec<IamUser>) -> Listings {
    Listings::from([(None, Ok(users))])
}

fn chosen(config: &Config) -> Vec<String> {
    config.sets.keys().map(|a| a.to_string()).collect()
}

#[test]
fn globs_match_the_whole_name() {
    for (pattern, text, want) in [
        ("svc-*", "svc-a", true),
        ("svc-*", "svc-", true),
        ("svc-*", "xsvc-a", false),
        ("*-legacy", "svc-legacy", true),
        ("*-legacy", "svc-legacy2", false),
        ("s?c", "svc", true),
        ("s?c", "sc", false),
        ("*", "", true),
        ("", "", true),
        ("", "a", false),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
        ("a*b", "abab", true),
        ("**", "x", true),
        ("exact", "exact", true),
        ("exact", "Exact", false),
    ] {
        assert_eq!(glob(pattern, text), want, "{pattern} ~ {text}");
    }
}

#[test]
fn one_listing_serves_every_selector() {
    let q = |text: &str| queries(&config(text).selectors).remove(&None);
    assert_eq!(q(""), None);
    let both = format!(
        "{}{}",
        selector("a", r#"path_prefix = "/ci/a/""#),
        selector("b", r#"path_prefix = "/ci/b/""#)
    );
    assert_eq!(
        q(&both),
        Some(UserQuery {
            path_prefix: Some("/ci/".into()),
            with_tags: false
        })
    );
    let tagged = format!(
        "{}{}",
        selector("a", r#"path_prefix = "/ci/""#),
        selector("b", r#"tags = { rotate = "true" }"#)
    );
    assert_eq!(
        q(&tagged),
        Some(UserQuery {
            path_prefix: None,
            with_tags: true
        })
    );
    let cut = format!(
        "{}{}",
        selector("a", r#"path_prefix = "/ci""#),
        selector("b", r#"path_prefix = "/cid/""#)
    );
    assert_eq!(
        q(&cut).unwrap().path_prefix,
        None,
        "no whole segment is shared"
    );
}

#[test]
fn selects_by_path_tag_and_pattern_with_exclusions() {
    for (criteria, want) in [
        (
            r#"path_prefix = "/ci/""#,
            vec!["deploy-1", "svc-a", "svc-b", "svc-legacy"],
        ),
        (r#"path_prefix = "/ci/deploy/""#, vec!["deploy-1"]),
        (
            r#"tags = { rotate = "true" }"#,
            vec!["alice", "deploy-1", "svc-a", "svc-legacy"],
        ),
        (
            r#"tags = { rotate = "true", team = "x" }"#,
            vec!["deploy-1"],
        ),
        (
            r#"names = ["svc-*", "deploy-*"]"#,
            vec!["deploy-1", "svc-a", "svc-b", "svc-legacy"],
        ),
        (
            r#"path_prefix = "/ci/"
  tags = { rotate = "true" }
  names = ["svc-*", "deploy-*"]
  exclude = ["svc-legacy"]"#,
            vec!["deploy-1", "svc-a"],
        ),
        (
            r#"names = ["*"]
  exclude = ["svc-*", "d*"]"#,
            vec!["alice"],
        ),
    ] {
        let mut cfg = config(&selector("ci", criteria));
        let warnings = expand(&mut cfg, &own(fleet())).unwrap();
        assert!(warnings.is_empty(), "{criteria}: {warnings:?}");
        let got = cfg.selection.as_ref().unwrap().chosen["ci"].clone();
        assert_eq!(got, want, "{criteria}");
        let addresses: Vec<String> = want
            .iter()
            .map(|u| format!("user.{u}.access_key"))
            .collect();
        assert_eq!(chosen(&cfg), addresses, "{criteria}");
    }
}

#[test]
fn fills_in_the_user_and_names_the_selector() {
    let mut cfg = config(&selector("ci", r#"names = ["svc-a"]"#));
    expand(&mut cfg, &own(fleet())).unwrap();
    let set = &cfg.sets[&Address::access_key("svc-a")];
    assert_eq!(set.selector.as_deref(), Some("ci"));
    assert_eq!(set.windows.max_age, crate::core::duration::Window::days(30));
    assert_eq!(
        set.sinks,
        vec![Sink::SecretsManager {
            account: None,
            secret_id: "ci/svc-a/aws".into(),
            create: true,
            format: crate::core::config::SecretFormat::Json,
        }]
    );
}

#[test]
fn confirm_checks_are_filled_in_for_each_user_with_their_gate() {
    let text = r#"
account "prod" {
  role_arn = "arn:aws:iam::222222222222:role/keyrot"
}

users "ci" {
  account = "prod"
  names   = ["svc-*"]
  access_key {
    require_new_key_use = true
    deliver "secrets_manager" {
      secret_id = "ci/${user}/aws"
    }
    confirm "exec" {
      command = ["./smoke-test", "${account}", "${user}"]
      env     = { TARGET = "${user}.internal" }
    }
    confirm "http" {
      url = "https://${user}.internal/health"
    }
    on_confirm_failure = "hold"
  }
}
"#;
    let mut cfg = config(text);
    let listed = Listings::from([(Some("prod".to_string()), Ok(fleet()))]);
    expand(&mut cfg, &listed).unwrap();
    let address = Address::parse("account.prod.user.svc-a.access_key").unwrap();
    let set = &cfg.sets[&address];
    assert!(set.require_new_key_use);
    assert_eq!(set.confirm.on_failure, OnConfirmFailure::Hold);
    let Check::Exec { command, env, .. } = &set.confirm.checks[0] else {
        panic!("{:?}", set.confirm.checks);
    };
    assert_eq!(command, &["./smoke-test", "prod", "svc-a"]);
    assert_eq!(env.set["TARGET"], "svc-a.internal");
    let Check::Http { url, .. } = &set.confirm.checks[1] else {
        panic!("{:?}", set.confirm.checks);
    };
    assert_eq!(url, "https://svc-a.internal/health");
    assert_eq!(
        set.confirm.checks[1].describe(),
        "http https://svc-a.internal"
    );
    // Each user's check is its own: its recorded results never count for another's.
    let other = &cfg.sets[&Address::parse("account.prod.user.svc-b.access_key").unwrap()];
    assert_ne!(
        set.confirm.checks[0].fingerprint(),
        other.confirm.checks[0].fingerprint()
    );
}

#[test]
fn a_user_block_wins_over_a_selector() {
    let text = format!(
        "{}{}",
        selector("ci", r#"path_prefix = "/ci/""#),
        r#"
user "svc-a" {
  signing_certificate {
    generate {}
    deliver "file" { path = "svc-a.pem" }
  }
}
"#
    );
    let mut cfg = config(&text);
    expand(&mut cfg, &own(fleet())).unwrap();
    assert_eq!(
        cfg.selection.as_ref().unwrap().chosen["ci"],
        ["deploy-1", "svc-b", "svc-legacy"]
    );
    assert!(!cfg.sets.contains_key(&Address::access_key("svc-a")));
    let own = &cfg.sets[&Address::signing_certificate("svc-a")];
    assert_eq!(own.selector, None);
}

#[test]
fn two_selectors_choosing_one_user_is_an_error_naming_both() {
    let text = format!(
        "{}{}",
        selector("ci", r#"path_prefix = "/ci/""#),
        selector("svc", r#"names = ["svc-*"]"#)
    );
    let mut cfg = config(&text);
    let errors = expand(&mut cfg, &own(fleet())).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    // At the later selector, naming the earlier one's position.
    assert_eq!((e.file.as_str(), e.line, e.column), ("fleet.hcl", 13, 1));
    assert_eq!(
        e.message,
        "selectors `ci` and `svc` both match user(s) svc-a, svc-b, svc-legacy"
    );
    assert!(e.hint.as_deref().unwrap().contains("fleet.hcl:2:1"), "{e}");
}

#[test]
fn a_selector_choosing_nobody_is_a_warning_at_its_block() {
    let text = format!(
        "{}{}",
        selector("ci", r#"path_prefix = "/ci/""#),
        selector("none", r#"names = ["nobody-*"]"#)
    );
    let mut cfg = config(&text);
    let warnings = expand(&mut cfg, &own(fleet())).unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].line, 13);
    assert_eq!(warnings[0].message, "selector `none` matches no IAM user");
    assert_eq!(
        cfg.selection.as_ref().unwrap().chosen["none"],
        Vec::<String>::new()
    );
}

#[test]
fn expanding_again_replaces_what_was_chosen() {
    let mut cfg = config(&selector("ci", r#"names = ["svc-*"]"#));
    expand(&mut cfg, &own(fleet())).unwrap();
    let fewer: Vec<IamUser> = fleet().into_iter().filter(|u| u.name != "svc-b").collect();
    expand(&mut cfg, &own(fewer)).unwrap();
    assert_eq!(
        chosen(&cfg),
        ["user.svc-a.access_key", "user.svc-legacy.access_key"]
    );
}

#[test]
fn selectors_choose_in_their_own_account() {
    let text = format!(
        r#"
account "prod" {{
  role_arn = "arn:aws:iam::222222222222:role/keyrot"
}}
account "dev" {{
  role_arn = "arn:aws:iam::333333333333:role/keyrot"
}}
user "svc-a" {{
  access_key {{
    deliver "stdout" {{}}
  }}
}}
users "prod-svc" {{
  account = "prod"
  names   = ["svc-*"]
  access_key {{
    deliver "secrets_manager" {{ secret_id = "${{account}}/${{user}}" }}
  }}
}}
users "dev-svc" {{
  account = "dev"
  names   = ["svc-*"]
  access_key {{
    deliver "stdout" {{}}
  }}
}}
{}"#,
        selector("own", r#"names = ["svc-*"]"#)
    );
    let mut cfg = config(&text);
    let listings = Listings::from([
        (None, Ok(fleet())),
        (
            Some("prod".to_string()),
            Ok(vec![user("svc-a", "/", &[]), user("svc-z", "/", &[])]),
        ),
        (
            Some("dev".to_string()),
            Err("account dev: AssumeRole failed".into()),
        ),
    ]);
    let warnings = expand(&mut cfg, &listings).unwrap();
    assert!(
        warnings.is_empty(),
        "an unlisted account warns of nothing: {warnings:?}"
    );
    let selection = cfg.selection.clone().unwrap();
    assert_eq!(
        selection.chosen["prod-svc"],
        ["svc-a", "svc-z"],
        "a user block elsewhere does not count"
    );
    assert_eq!(
        selection.chosen["own"],
        ["svc-b", "svc-legacy"],
        "svc-a has its own block"
    );
    assert!(
        !selection.chosen.contains_key("dev-svc"),
        "not listed, nothing recorded"
    );
    assert_eq!(selection.unlisted["dev"], "account dev: AssumeRole failed");
    let prod_a = Address::access_key("svc-a").in_account(Some("prod".into()));
    assert_eq!(
        cfg.sets[&prod_a].sinks,
        vec![Sink::SecretsManager {
            account: Some("prod".into()),
            secret_id: "prod/svc-a".into(),
            create: false,
            format: crate::core::config::SecretFormat::Json,
        }]
    );
    assert!(cfg.sets.keys().all(|a| a.account() != Some("dev")));
}
