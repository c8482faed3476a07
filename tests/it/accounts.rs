//! Accounts reached by AssumeRole, against moto (which keeps IAM and Secrets Manager per
//! account): one plan over several accounts, each set rotated in its own account with its
//! sinks where they belong, and a role that cannot be assumed failing only its own sets.

use crate::common::proxy::{Proxy, Rule};
use crate::common::*;
use aws_sdk_iam::config::Credentials;

const PROD: &str = "222222222222";
const SHARED: &str = "333333333333";
/// The role of this account is refused by the fault proxy (moto accepts any AssumeRole).
const DENIED: &str = "444444444444";

/// Credentials of `role/keyrot` in `account`, as keyrot would assume it.
fn assumed(endpoint: &str, account: &str) -> Credentials {
    rt().block_on(async {
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "t"))
            .build();
        let out = aws_sdk_sts::Client::from_conf(conf)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/keyrot"))
            .role_session_name("test")
            .send()
            .await
            .expect("assume role");
        let c = out.credentials().expect("credentials");
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "assumed",
        )
    })
}

fn iam_in(endpoint: &str, account: &str) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(assumed(endpoint, account))
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

fn secrets_in(endpoint: &str, account: Option<&str>) -> aws_sdk_secretsmanager::Client {
    let credentials = match account {
        Some(account) => assumed(endpoint, account),
        None => Credentials::new("testing", "testing", None, None, "t"),
    };
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}

/// The delivered JSON in a secret of `account`, `None` when there is no such secret.
fn secret(endpoint: &str, account: Option<&str>, id: &str) -> Option<serde_json::Value> {
    let client = secrets_in(endpoint, account);
    rt().block_on(async {
        let out = client.get_secret_value().secret_id(id).send().await.ok()?;
        serde_json::from_str(out.secret_string()?).ok()
    })
}

fn two_accounts_config(p: &str) -> String {
    format!(
        r#"account "prod" {{
  role_arn = "arn:aws:iam::{PROD}:role/keyrot"
}}
account "shared" {{
  role_arn     = "arn:aws:iam::{SHARED}:role/keyrot"
  session_name = "keyrot-test"
}}
user "{p}-base" {{
  access_key {{
    deliver "file" {{ path = "secrets/base.json" }}
  }}
}}
users "ci" {{
  account     = "prod"
  path_prefix = "/{p}/"
  access_key {{
    deliver "secrets_manager" {{
      secret_id = "{p}/${{account}}/${{user}}"
      create    = true
    }}
    deliver "secrets_manager" {{
      secret_id = "{p}/copy/${{user}}"
      create    = true
      account   = "shared"
    }}
  }}
}}
"#
    )
}

#[test]
fn one_plan_over_two_accounts_rotates_each_set_with_its_sinks_in_their_accounts() {
    let moto = Moto::shared();
    let endpoint = &moto.endpoint;
    let p = unique_user("acct");
    seed_user(&admin(endpoint), &format!("{p}-base"));
    let prod = iam_in(endpoint, PROD);
    for name in ["svc-a", "svc-b"] {
        create_user(&prod, &format!("{p}-{name}"), &format!("/{p}/"), &[]);
    }
    // A user keyrot does not manage, with a key: a finding in prod's own credential report.
    let stranger = format!("{p}-stranger");
    seed_user(&prod, &stranger);
    let project = Project::new(endpoint, &two_accounts_config(&p));
    let day0 = days_from_now(100);

    let plan = project.ok(&["plan", "--json"], Some(day0), 0);
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).expect("json");
    let sets: Vec<&str> = json["credential_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        sets,
        [
            format!("user.{p}-base.access_key"),
            format!("account.prod.user.{p}-svc-a.access_key"),
            format!("account.prod.user.{p}-svc-b.access_key"),
        ],
        "one plan over both accounts; the base set keeps today's address"
    );
    let finding = |doc: &serde_json::Value| {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["user"] == stranger.as_str())
            .cloned()
    };
    let found = finding(&json).expect("prod's report read for the plan");
    assert_eq!(
        (found["account"].as_str(), found["check"].as_str()),
        (Some("prod"), Some("key_too_old"))
    );
    let audit = project.ok(&["audit", "--json"], Some(day0), 0);
    let audit: serde_json::Value = serde_json::from_str(&audit.stdout).expect("audit json");
    assert_eq!(
        finding(&audit).expect("audit reads prod")["account"],
        "prod"
    );
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);

    for name in ["svc-a", "svc-b"] {
        let user = format!("{p}-{name}");
        let keys = live_keys(&prod, &user);
        assert_eq!(keys.len(), 1, "{user} got its key in prod");
        let in_prod = secret(endpoint, Some(PROD), &format!("{p}/prod/{user}"))
            .unwrap_or_else(|| panic!("no secret for {user} in prod"));
        assert_eq!(in_prod["AccessKeyId"], keys[0].0.as_str());
        let copy = secret(endpoint, Some(SHARED), &format!("{p}/copy/{user}"))
            .unwrap_or_else(|| panic!("no copy for {user} in the shared account"));
        assert_eq!(copy["AccessKeyId"], keys[0].0.as_str());
        for (account, id) in [
            (None, format!("{p}/prod/{user}")),
            (None, format!("{p}/copy/{user}")),
            (Some(PROD), format!("{p}/copy/{user}")),
        ] {
            assert!(
                secret(endpoint, account, &id).is_none(),
                "{id} leaked into {account:?}"
            );
        }
        let id = in_prod["AccessKeyId"].as_str().unwrap();
        let key = in_prod["SecretAccessKey"].as_str().unwrap();
        assert_eq!(whoami(endpoint, id, key).as_deref(), Ok(user.as_str()));
        project.assert_secret_nowhere(key, &["secrets/base.json"]);
    }
    assert_eq!(
        live_keys(&admin(endpoint), &format!("{p}-base")).len(),
        2,
        "rotated at home"
    );

    let state = project.state_json();
    let address = format!("account.prod.user.{p}-svc-a.access_key");
    assert_eq!(state["credential_sets"][&address]["phase"], "steady");
    let shown = project.ok(&["state", "show", &address], None, 0);
    assert!(shown.stdout.starts_with(&address), "{}", shown.stdout);
}

/// A proxy in front of moto that refuses AssumeRole into the `DENIED` account.
fn denying(moto: &Moto) -> Proxy {
    let rules = vec![Rule {
        marker: "RoleArn=arn%3Aaws%3Aiam%3A%3A444444444444%3Arole%2Fkeyrot",
        respond: "403 Forbidden",
        body: "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>",
    }];
    Proxy::with_rules(&moto.endpoint, 0.0, &[], 1, rules)
}

#[test]
fn a_role_that_cannot_be_assumed_fails_only_its_own_sets() {
    let moto = Moto::shared();
    let proxy = denying(moto);
    let p = unique_user("deny");
    let prod = iam_in(&moto.endpoint, PROD);
    create_user(&prod, &format!("{p}-ok"), "/", &[]);
    let config = format!(
        r#"account "prod" {{
  role_arn = "arn:aws:iam::{PROD}:role/keyrot"
}}
account "locked" {{
  role_arn = "arn:aws:iam::{DENIED}:role/keyrot"
}}
user "{p}-ok" {{
  account = "prod"
  access_key {{
    deliver "file" {{ path = "secrets/ok.json" }}
  }}
}}
user "{p}-no" {{
  account = "locked"
  access_key {{
    deliver "file" {{ path = "secrets/no.json" }}
  }}
}}
users "fleet" {{
  account = "locked"
  names   = ["{p}-*"]
  access_key {{
    deliver "file" {{ path = "secrets/${{user}}.json" }}
  }}
}}
"#
    );
    let project = Project::new(&proxy.endpoint, &config);

    let plan = project.ok(&["plan", "--detailed-exitcode"], None, 7);
    assert!(
        plan.stderr.contains(&format!(
            "account locked cannot be reached: AssumeRole arn:aws:iam::{DENIED}:role/keyrot failed"
        )) && plan.stderr.contains("AccessDenied"),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stdout
            .contains(&format!("# account.prod.user.{p}-ok.access_key")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("1 to create")
            && plan.stdout.contains("account locked could not be reached"),
        "{}",
        plan.stdout
    );

    let apply = project.ok(&["apply", "--auto-approve"], None, 7);
    assert!(
        apply.stderr.contains(&format!(
            "account.locked.user.{p}-no.access_key: account locked could not be reached"
        )),
        "{}",
        apply.stderr
    );
    assert_eq!(
        live_keys(&prod, &format!("{p}-ok")).len(),
        1,
        "the other account went on"
    );
    assert!(project.path("secrets/ok.json").exists());
    assert!(!project.path("secrets/no.json").exists());
    let state = project.state_json();
    let tracked: Vec<&String> = state["credential_sets"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(tracked, [&format!("account.prod.user.{p}-ok.access_key")]);
}

/// A run was cut off mid-step in an account whose role is refused now: recovery cannot
/// settle that step, so it stays in the journal and its set waits, while every other set
/// (here one in keyrot's own account) is rotated. Once the role works again, the next run
/// settles it.
#[test]
fn an_unsettled_step_in_an_unreachable_account_holds_only_its_own_set() {
    let moto = Moto::shared();
    let proxy = denying(moto);
    let p = unique_user("unsettled");
    let base = admin(&moto.endpoint);
    let seeded = seed_user(&base, &format!("{p}-base"));
    let config = format!(
        r#"account "locked" {{
  role_arn = "arn:aws:iam::{DENIED}:role/keyrot"
}}
user "{p}-base" {{
  access_key {{
    deliver "file" {{ path = "secrets/base.json" }}
  }}
}}
user "{p}-far" {{
  account = "locked"
  access_key {{
    deliver "file" {{ path = "secrets/far.json" }}
  }}
}}
"#
    );
    create_user(
        &iam_in(&moto.endpoint, DENIED),
        &format!("{p}-far"),
        "/",
        &[],
    );
    let mut project = Project::new(&proxy.endpoint, &config);
    // What a run killed while deactivating the far user's key leaves behind.
    let far = format!("account.locked.user.{p}-far.access_key");
    let journal = serde_json::json!({
        "format_version": 2,
        "intents": [{
            "op": "deactivate",
            "address": far,
            "key_id": "AKIAFARAWAYKEY000001",
            "at": "2026-01-01T00:00:00Z",
            "now": "2026-01-01T00:00:00Z",
        }],
    });
    std::fs::create_dir_all(project.path("state")).unwrap();
    let journal_path = project.path("state/keyrot.json.journal");
    std::fs::write(&journal_path, journal.to_string()).unwrap();

    let apply = project.run(&["apply", "--auto-approve"], Some(days_from_now(100)));
    assert!(
        apply.stderr.contains(&format!(
            "could not settle the interrupted Deactivate of {far}"
        )),
        "{}\n{}",
        apply.stdout,
        apply.stderr
    );
    assert_eq!(apply.code, 7, "the far set is blocked: {}", apply.stderr);
    let live = live_keys(&base, &format!("{p}-base"));
    assert_eq!(live.len(), 2, "the base set rotated: {live:?}");
    assert!(live.iter().any(|(k, _)| *k == seeded.id));
    assert!(project.path("secrets/base.json").exists());
    let left = std::fs::read_to_string(&journal_path).expect("the unsettled step is kept");
    assert!(left.contains(&far), "{left}");
    assert!(!left.contains(&format!("{p}-base")), "{left}");
    let status = project.ok(&["status"], None, 0);
    assert!(status.stdout.contains("Unfinished:"), "{}", status.stdout);

    // The role works again (moto itself refuses no AssumeRole): settled, then rotated.
    project.endpoint = moto.endpoint.clone();
    let apply = project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 0);
    assert!(
        apply
            .stdout
            .contains(&format!("Recovered an interrupted Deactivate of {far}")),
        "{}",
        apply.stdout
    );
    assert!(!journal_path.exists(), "settled");
    assert!(project.path("secrets/far.json").exists());
}
