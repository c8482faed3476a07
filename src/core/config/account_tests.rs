//! `account` blocks and `account = "NAME"`: addresses, sinks' accounts, mistakes at their
//! file:line:column.

use super::tests::{errors, parse_one};
use super::*;
use crate::core::duration::Window;
use crate::core::model::Address;

const ACCOUNTS: &str = r#"
account "prod" {
  role_arn     = "arn:aws:iam::222222222222:role/keyrot"
  external_id  = "keyrot-prod"
  session_name = "keyrot-nightly"
  duration     = "2h"
}
account "shared" {
  role_arn = "arn:aws:iam::333333333333:role/keyrot"
}
user "ci" {
  access_key {
    deliver "stdout" {}
  }
}
user "ci" {
  account = "prod"
  access_key {
    deliver "secrets_manager" { secret_id = "ci/aws" }
    deliver "ssm_parameter" {
      name    = "/ci/aws"
      account = "shared"
    }
  }
}
users "svc" {
  account = "prod"
  names   = ["svc-*"]
  access_key {
    deliver "secrets_manager" { secret_id = "${account}/${user}" }
  }
}
"#;

#[test]
fn accounts_give_sets_and_sinks_their_account() {
    let cfg = parse_one(ACCOUNTS).unwrap();
    let prod = &cfg.accounts["prod"];
    assert_eq!(prod.role_arn, "arn:aws:iam::222222222222:role/keyrot");
    assert_eq!(prod.external_id.as_deref(), Some("keyrot-prod"));
    assert_eq!(prod.session_name.as_deref(), Some("keyrot-nightly"));
    assert_eq!(prod.duration, Some(Window::from_secs(7200)));
    assert_eq!(cfg.accounts["shared"].external_id, None);
    let addresses: Vec<String> = cfg.sets.keys().map(ToString::to_string).collect();
    assert_eq!(
        addresses,
        ["user.ci.access_key", "account.prod.user.ci.access_key"],
        "the same user name in two accounts is two sets; today's address stays"
    );
    let in_prod = &cfg.sets[&Address::access_key("ci").in_account(Some("prod".into()))];
    let accounts: Vec<Option<&str>> = in_prod.sinks.iter().map(Sink::account).collect();
    assert_eq!(
        accounts,
        [Some("prod"), Some("shared")],
        "the set's, unless named"
    );
    let svc = &cfg.selectors[0];
    assert_eq!(svc.account.as_deref(), Some("prod"));
    assert_eq!(
        svc.sets[0].sinks,
        vec![Sink::SecretsManager {
            account: Some("prod".into()),
            secret_id: "${account}/${user}".into(),
            create: false,
            format: SecretFormat::Json,
        }]
    );
}

#[test]
fn accounts_are_in_the_digest() {
    let base = parse_one(ACCOUNTS).unwrap().digest();
    for (from, to) in [
        ("222222222222", "222222222223"),
        ("\"keyrot-prod\"", "\"keyrot-prd\""),
        ("\"keyrot-nightly\"", "\"keyrot-daily\""),
        ("\"2h\"", "\"3h\""),
        ("      account = \"shared\"\n", ""),
    ] {
        assert_eq!(ACCOUNTS.matches(from).count(), 1, "{from}");
        let changed = parse_one(&ACCOUNTS.replace(from, to)).unwrap().digest();
        assert_ne!(changed, base, "{from} -> {to} must change the digest");
    }
}

#[test]
fn account_mistakes_are_reported_where_they_stand() {
    let errs = errors(
        r#"account "prod" {
  role_arn = "arn:aws:iam::2222:user/keyrot"
  duration = "5m"
  external_id = "x"
}
account "prod" {
  role_arn = "arn:aws:iam::222222222222:role/keyrot"
}
account "bad.name" {
}
user "a" {
  account = "nope"
  access_key {
    deliver "secrets_manager" {
      secret_id = "a"
      account   = "other"
    }
  }
}
users "s" {
  names = ["s-*"]
  access_key {
    deliver "file" { path = "${account}/${user}.json" }
  }
}
"#,
    );
    assert_eq!(
        errs,
        vec![
            "2:14: role_arn `arn:aws:iam::2222:user/keyrot` is not an IAM role ARN",
            "3:14: duration must be from 15m to 12h (AWS's bounds for AssumeRole)",
            "4:17: `external_id` must be 2 to 1224 characters",
            "6:1: duplicate `account \"prod\"`",
            "9:1: `bad.name` is not a valid account name",
            "9:1: `account` needs `role_arn`",
            "23:29: `path` can interpolate only `${user}`",
            "12:13: unknown account `nope`",
            "16:19: unknown account `other`",
        ]
    );
}
