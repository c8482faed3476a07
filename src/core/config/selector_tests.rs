//! `users` blocks: what they parse to, and every mistake at its file:line:column.

use super::tests::{errors, parse_one};
use super::*;
use crate::core::duration::Window;
use crate::core::model::CredentialKind;

const DOCUMENTED: &str = r#"
defaults { overlap = "2d" }
users "ci" {
  path_prefix = "/ci/"
  tags        = { rotate = "true" }
  names       = ["svc-*", "deploy-*"]
  exclude     = ["svc-legacy"]
  access_key {
    max_age = "30d"
    deliver "secrets_manager" {
      secret_id = "ci/${user}/aws"
      create    = true
    }
  }
}
"#;

#[test]
fn parses_the_documented_selector() {
    let cfg = parse_one(DOCUMENTED).unwrap();
    assert!(cfg.sets.is_empty(), "nothing is chosen before IAM is read");
    assert_eq!(cfg.selection, None);
    let [s] = cfg.selectors.as_slice() else {
        panic!("{:?}", cfg.selectors)
    };
    assert_eq!(s.name, "ci");
    assert_eq!(s.path_prefix.as_deref(), Some("/ci/"));
    assert_eq!(s.tags.get("rotate").map(String::as_str), Some("true"));
    assert_eq!(s.names, ["svc-*", "deploy-*"]);
    assert_eq!(s.exclude, ["svc-legacy"]);
    assert_eq!((s.at.line, s.at.column), (3, 1));
    let [t] = s.sets.as_slice() else {
        panic!("{:?}", s.sets)
    };
    assert_eq!(t.kind, CredentialKind::AccessKey);
    assert_eq!(t.windows.max_age, Window::days(30));
    assert_eq!(t.windows.overlap, Window::days(2), "defaults apply");
    assert_eq!(
        t.sinks,
        vec![Sink::SecretsManager {
            account: None,
            secret_id: "ci/${user}/aws".into(),
            create: true,
            format: SecretFormat::Json,
        }]
    );
}

#[test]
fn the_selector_text_is_in_the_digest() {
    let base = parse_one(DOCUMENTED).unwrap().digest();
    for (from, to) in [
        ("\"/ci/\"", "\"/cd/\""),
        ("rotate = \"true\"", "rotate = \"yes\""),
        ("\"deploy-*\"", "\"deploy-?\""),
        ("\"svc-legacy\"", "\"svc-old\""),
        ("ci/${user}/aws", "ci/${user}/key"),
        ("\"30d\"", "\"31d\""),
        ("users \"ci\"", "users \"cd\""),
    ] {
        assert_eq!(DOCUMENTED.matches(from).count(), 1, "{from}");
        let changed = parse_one(&DOCUMENTED.replace(from, to)).unwrap().digest();
        assert_ne!(changed, base, "{from} -> {to} must change the digest");
    }
    let user_only = "user \"a\" {\n access_key {\n deliver \"stdout\" {}\n }\n}\n";
    let with = format!("{user_only}{DOCUMENTED}");
    assert_ne!(
        parse_one(&with).unwrap().digest(),
        parse_one(user_only).unwrap().digest()
    );
}

#[test]
fn only_user_is_interpolated_and_only_in_selectors() {
    let errs = errors(
        r#"users "ci" {
  names = ["svc-*"]
  access_key {
    deliver "file" { path = "secrets/${name}.json" }
    deliver "secrets_manager" { secret_id = "ci/$${user}" }
  }
}
user "a" {
  access_key {
    deliver "file" { path = "secrets/${user}.json" }
  }
}
"#,
    );
    assert_eq!(
        errs,
        vec![
            "4:29: `path` can interpolate only `${user}`",
            "5:45: `secret_id` must not hold a literal `${` in a `users` block (it would read as `${user}`)",
            "10:29: `path` must be a plain string: interpolation is not supported",
        ]
    );
}

#[test]
fn a_place_every_user_would_share_is_an_error() {
    let errs = errors(
        r#"users "ci" {
  names = ["svc-*"]
  access_key {
    deliver "secrets_manager" { secret_id = "ci/aws" }
    deliver "stdout" {}
    deliver "exec" { command = ["./reload.sh", "${user}"] }
    deliver "ssm_parameter" { name = "/ci/${user}" }
  }
}
"#,
    );
    assert_eq!(
        errs,
        vec!["4:5: every user this selector matches would write the same secrets_manager ci/aws"]
    );
}

#[test]
fn selector_mistakes_are_reported_where_they_stand() {
    let errs = errors(
        r#"users "ci" {
  path_prefix = "ci"
  names = ["svc/*"]
  access_key {
    deliver "stdout" {}
  }
}
users "ci" {
  names = ["x"]
}
users "all" {
  exclude = ["x"]
  colour  = "red"
}
users "bad name" {
  names = []
  tags  = ["rotate"]
}
"#,
    );
    assert_eq!(
        errs,
        vec![
            "2:3: path_prefix `ci` is not an IAM path prefix",
            "3:11: `names` pattern `svc/*` can never match an IAM user name",
            "8:1: duplicate selector `users \"ci\"`",
            "11:1: selector `all` has no `path_prefix`, `tags` or `names`: it would take every IAM user",
            "11:1: selector `all` declares no credentials",
            "13:3: unknown attribute `colour` in `users`",
            "15:1: `bad name` is not a valid selector name",
            "15:1: selector `bad name` declares no credentials",
            "16:11: `names` must be a non-empty list of plain strings",
            "17:11: `tags` must be a map of plain strings",
        ]
    );
}
