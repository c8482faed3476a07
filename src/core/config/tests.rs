//! Parsing and validation, through [`parse`].

use super::*;
use crate::core::diagnostic::Diagnostic;
use crate::core::duration::Window;
use crate::core::model::Address;

pub(super) fn parse_one(text: &str) -> Result<Config, Vec<Diagnostic>> {
    parse(&[Source {
        name: "keyrot.hcl".into(),
        text: text.into(),
    }])
}

pub(super) fn errors(text: &str) -> Vec<String> {
    parse_one(text)
        .unwrap_err()
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
        .collect()
}

const GOOD: &str = r#"
aws { region = "us-east-1" }
defaults {
  max_age = "90d"
  overlap = "7d"
}
user "ci-deployer" {
  access_key {
max_age = "30d"
deliver "file" {
  path   = "secrets/ci.json"
  format = "credentials"
}
  }
}
"#;

#[test]
fn parses_the_documented_example() {
    let cfg = parse_one(GOOD).unwrap();
    assert_eq!(cfg.aws.region.as_deref(), Some("us-east-1"));
    let set = &cfg.sets[&Address::access_key("ci-deployer")];
    assert_eq!(set.windows.max_age, Window::days(30));
    assert_eq!(set.windows.overlap, Window::days(7));
    assert_eq!(set.windows.unused_for, Window::days(3), "built-in default");
    assert_eq!(
        set.sinks,
        vec![Sink::File {
            path: "secrets/ci.json".into(),
            format: SecretFormat::Credentials
        }]
    );
}

#[test]
fn reports_every_error_with_position() {
    let errs = errors(
        r#"defaults {
  max_age = "90x"
  colour = "red"
}
user "a" {
  access_key {}
}
user "a" {
  access_key {
deliver "file" { path = "x" }
  }
}
bogus {}
"#,
    );
    assert_eq!(
        errs,
        vec![
            "2:13: bad duration for `max_age`: unknown unit `x` in `90x` (units: s, m, h, d, w; chained like `1d12h`)",
            "3:3: unknown attribute `colour` in `defaults`",
            "6:3: access_key has no `deliver` block: a new secret would have nowhere to go",
            "8:1: duplicate user \"a\"",
            "13:1: unknown block `bogus`",
        ]
    );
}

#[test]
fn syntax_errors_carry_position() {
    let errs = errors("user \"a\" {\n  access_key {\n    max_age = \n}\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("3:15: HCL syntax error"), "{errs:?}");
}

#[test]
fn rejects_non_strings_and_interpolation() {
    let errs = errors(
        "user \"a\" {\n  access_key {\n    max_age = 30\n    deliver \"file\" { path = \"${x}\" }\n  }\n}\n",
    );
    assert_eq!(
        errs,
        vec![
            "3:15: `max_age` must be a string",
            "4:29: `path` must be a plain string: interpolation is not supported",
        ]
    );
}

#[test]
fn duplicate_users_across_files_name_both_places() {
    let one = Source {
        name: "a.hcl".into(),
        text: "user \"x\" {\n access_key {\n deliver \"stdout\" {}\n }\n}\n".into(),
    };
    let two = Source {
        name: "b.hcl".into(),
        text: "\nuser \"x\" {\n access_key {\n deliver \"stdout\" {}\n }\n}\n".into(),
    };
    let errs = parse(&[one, two]).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].file, "b.hcl");
    assert_eq!(errs[0].line, 2);
    assert!(errs[0].hint.as_deref().unwrap().contains("a.hcl:1:1"));
}

#[test]
fn digest_ignores_formatting_but_not_meaning() {
    let a = parse_one(GOOD).unwrap().digest();
    let reformatted = GOOD.replace(
        "  max_age = \"90d\"",
        "  # comment\n  max_age   =   \"90d\"",
    );
    assert_eq!(parse_one(&reformatted).unwrap().digest(), a);
    let changed = GOOD.replace("\"30d\"", "\"31d\"");
    assert_ne!(parse_one(&changed).unwrap().digest(), a);
    let cert = |subject: &str| {
        parse_one(&format!(
            "user \"u\" {{\n  signing_certificate {{\n    generate {{\n      subject = \"{subject}\"\n    }}\n    deliver \"file\" {{\n      path = \"c.pem\"\n    }}\n  }}\n}}\n"
        ))
        .unwrap()
        .digest()
    };
    assert_ne!(
        cert("CN=a"),
        cert("CN=b"),
        "the certificate source is part of the meaning"
    );
    assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
}

#[test]
fn password_policy_is_validated_against_iam_ranges() {
    let cfg = parse_one(
        "password_policy {\n  minimum_password_length = 14\n  require_symbols = true\n}\n",
    )
    .unwrap();
    let spec = cfg.password_policy.unwrap();
    assert_eq!(spec.minimum_password_length, Some(14));
    assert_eq!(spec.require_symbols, Some(true));
    assert_eq!(spec.max_password_age, None);
    let errs = errors("password_policy {\n  minimum_password_length = 4\n  max_password_age = 2000\n  require_symbols = \"yes\"\n  colour = 1\n}\n");
    assert_eq!(
        errs,
        vec![
            "2:29: `minimum_password_length` must be a whole number from 6 to 128 (IAM's range)",
            "3:22: `max_password_age` must be a whole number from 1 to 1095 (IAM's range)",
            "4:21: `require_symbols` must be true or false",
            "5:3: unknown attribute `colour` in `password_policy`",
        ]
    );
    assert!(
        parse_one("password_policy {\n  delete = true\n}\n")
            .unwrap()
            .password_policy
            .unwrap()
            .delete
    );
}

#[test]
fn bad_user_names_and_formats() {
    let errs = errors(
        "user \"bad name!\" {\n access_key {\n deliver \"file\" {\n path = \"p\"\n format = \"yaml\"\n }\n }\n}\n",
    );
    assert_eq!(
        errs,
        vec![
            "1:1: `bad name!` is not a valid IAM user name",
            "5:2: unknown format `yaml`",
        ]
    );
}

#[test]
fn windows_that_cannot_finish_a_rotation_are_errors_and_short_ones_warnings() {
    let source = |text: &str| Source {
        name: "keyrot.hcl".into(),
        text: text.into(),
    };
    let text = "user \"ci\" {\n  access_key {\n    max_age = \"3m\"\n    deliver \"file\" {\n      path = \"ci.json\"\n    }\n  }\n}\n";
    let errors = parse(&[source(text)]).unwrap_err();
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        shown.iter().any(|e| e.starts_with("keyrot.hcl:1:1")
            && e.contains(
                "max_age 3m does not exceed overlap 7d + unused_for 3d + inactive_for 7d = 17d"
            )),
        "{shown:#?}"
    );
    let small = text.replace(
        "max_age = \"3m\"",
        "max_age = \"50m\"\n    overlap = \"10m\"\n    unused_for = \"10m\"\n    inactive_for = \"10m\"",
    );
    let (_, warnings) = parse_with_warnings(&[source(&small)]).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].message.contains("under an hour"),
        "{:?}",
        warnings[0]
    );
}

#[test]
fn display_block_chooses_how_key_ids_are_shown() {
    use crate::core::model::KeyIds;
    assert_eq!(parse_one(GOOD).unwrap().display.key_ids, KeyIds::Masked);
    let full = format!("{GOOD}display {{\n  key_ids = \"full\"\n}}\n");
    assert_eq!(parse_one(&full).unwrap().display.key_ids, KeyIds::Full);
    let bad = format!("{GOOD}display {{\n  key_ids = \"all\"\n  colour = 1\n}}\ndisplay {{}}\n");
    let lines = GOOD.lines().count();
    assert_eq!(
        errors(&bad),
        vec![
            format!("{}:13: unknown key_ids `all`", lines + 2),
            format!("{}:3: unknown attribute `colour` in `display`", lines + 3),
            format!("{}:1: duplicate `display` block", lines + 5),
        ]
    );
}

const STEP4: &str = r#"user "app" {
  access_key {
    require_new_key_use = true
    deliver "file" {
      path = "secrets/app.json"
    }
    confirm "exec" {
      command  = ["./scripts/smoke-test", "--env", "prod"]
      timeout  = "2m"
      pass_env = ["SMOKE_TARGET"]
    }
    confirm "http" {
      url = "https://app.internal/health"
    }
    on_confirm_failure = "hold"
  }
}
"#;

#[test]
fn parses_confirm_checks_and_the_new_key_gate() {
    let cfg = parse_one(STEP4).unwrap();
    let set = &cfg.sets[&Address::access_key("app")];
    assert!(set.require_new_key_use);
    assert_eq!(set.confirm.on_failure, OnConfirmFailure::Hold);
    assert_eq!(
        set.confirm.checks,
        vec![
            Check::Exec {
                command: vec!["./scripts/smoke-test".into(), "--env".into(), "prod".into()],
                timeout: Window::from_secs(120),
                env: ExecEnv {
                    set: Default::default(),
                    pass: vec!["SMOKE_TARGET".into()],
                },
            },
            Check::Http {
                url: "https://app.internal/health".into(),
                status: 200,
                timeout: Window::from_secs(30),
            },
        ]
    );
    assert_eq!(
        set.confirm.checks[1].describe(),
        "http https://app.internal"
    );
    // Off unless asked for; a failure rolls back unless told otherwise.
    let plain = parse_one(GOOD).unwrap();
    let plain = &plain.sets[&Address::access_key("ci-deployer")];
    assert!(!plain.require_new_key_use && plain.confirm.checks.is_empty());
    assert_eq!(plain.confirm.on_failure, OnConfirmFailure::Rollback);
}

#[test]
fn step4_mistakes_are_reported_where_they_are() {
    let errs = errors(
        r#"user "app" {
  signing_certificate {
    require_new_key_use = true
    generate {
      algorithm = "ecdsa-p256"
    }
    deliver "file" {
      path = "secrets/app.pem"
    }
  }
  access_key {
    deliver "stdout" {}
    confirm "http" {
      url    = "http://app.internal/health"
    }
    confirm "http" {
      url    = "https://app.internal/health"
      status = 99
    }
    confirm "ping" {}
    confirm "exec" {
      timeout = "1m"
    }
    on_confirm_failure = "panic"
  }
}
"#,
    );
    let want = [
        "3:5: `require_new_key_use` needs a last-use record, and IAM keeps none for signing certificates",
        "14:16: url `http://app.internal`: plain http is only allowed to a loopback address; use https",
        "18:16: `status` must be an HTTP status code from 100 to 599",
        "20:5: unknown confirm check `ping`",
        "21:5: `confirm \"exec\"` needs a `command`",
        "24:26: unknown on_confirm_failure `panic`",
    ];
    assert_eq!(errs, want);
    let lonely = errors(
        "user \"a\" {\n  access_key {\n    deliver \"stdout\" {}\n    on_confirm_failure = \"hold\"\n  }\n}\n",
    );
    assert_eq!(
        lonely,
        ["4:5: `on_confirm_failure` without a `confirm` block has nothing to act on"]
    );
}

#[test]
fn checks_change_the_digest_only_when_declared() {
    let plain = parse_one(GOOD).unwrap().digest();
    let gated = GOOD.replace(
        "max_age = \"30d\"",
        "max_age = \"30d\"\nrequire_new_key_use = false",
    );
    assert_eq!(parse_one(&gated).unwrap().digest(), plain);
    let on = GOOD.replace(
        "max_age = \"30d\"",
        "max_age = \"30d\"\nrequire_new_key_use = true",
    );
    assert_ne!(parse_one(&on).unwrap().digest(), plain);
    let cfg = parse_one(STEP4).unwrap();
    let set = &cfg.sets[&Address::access_key("app")];
    let other = STEP4.replace("\"prod\"", "\"staging\"");
    let other_cfg = parse_one(&other).unwrap();
    let other_set = &other_cfg.sets[&Address::access_key("app")];
    assert_ne!(cfg.digest(), other_cfg.digest());
    assert_ne!(
        set.confirm.checks[0].fingerprint(),
        other_set.confirm.checks[0].fingerprint()
    );
    assert_eq!(
        set.confirm.checks[1].fingerprint(),
        other_set.confirm.checks[1].fingerprint()
    );
}
