//! The account password policy in the same plan/apply, against moto. The policy is
//! account-wide, so this binary's moto server serves only this one sequential test.

use crate::common::*;

fn set_policy_by_hand(iam: &aws_sdk_iam::Client) {
    rt().block_on(async {
        iam.update_account_password_policy()
            .minimum_password_length(12)
            .require_symbols(true)
            .password_reuse_prevention(5)
            .send()
            .await
            .expect("update policy");
    })
}

fn live_policy(iam: &aws_sdk_iam::Client) -> Option<(i32, bool, Option<i32>, Option<i32>)> {
    rt().block_on(async {
        iam.get_account_password_policy()
            .send()
            .await
            .ok()
            .and_then(|o| {
                o.password_policy().map(|p| {
                    (
                        p.minimum_password_length().unwrap_or_default(),
                        p.require_symbols(),
                        p.max_password_age(),
                        p.password_reuse_prevention(),
                    )
                })
            })
    })
}

const POLICY: &str = "password_policy {\n  minimum_password_length = 14\n  max_password_age = 90\n  require_numbers = true\n}\n";

#[test]
fn password_policy_converges_shows_resets_and_is_never_deleted_implicitly() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    set_policy_by_hand(&iam);
    let project = Project::new(&moto.endpoint, POLICY);

    let plan = project.ok(&["plan", "--detailed-exitcode"], None, 2);
    assert!(
        plan.stdout.contains("- minimum_password_length = 12"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("+ minimum_password_length = 14"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("+ require_symbols = false   # not set in the config: IAM resets it"),
        "{}",
        plan.stdout
    );
    let json = project.ok(&["plan", "--json"], None, 0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_matches_schema("plan.schema.json", &v);
    let resets: Vec<&str> = v["password_policy"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["resets"] == true)
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(resets, ["require_symbols", "password_reuse_prevention"]);

    // A reviewed plan is refused once someone changes the policy by hand.
    project.ok(&["plan", "-out", "policy.json"], None, 0);
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.path("policy.json")).unwrap()).unwrap();
    assert_matches_schema("plan-file.schema.json", &file);
    rt().block_on(async {
        iam.update_account_password_policy()
            .minimum_password_length(20)
            .send()
            .await
            .unwrap();
    });
    let refused = project.ok(&["apply", "policy.json"], None, 5);
    assert!(
        refused
            .stderr
            .contains("the account password policy changed"),
        "{}",
        refused.stderr
    );
    assert_eq!(live_policy(&iam).map(|p| p.0), Some(20));

    project.ok(&["apply", "--auto-approve"], None, 0);
    assert_eq!(live_policy(&iam), Some((14, false, Some(90), None)));
    // Converged: a second plan is empty.
    let again = project.ok(&["plan", "--detailed-exitcode"], None, 0);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);

    // Removing the block stops managing the policy; it does not delete it.
    std::fs::write(project.path("keyrot.hcl"), "").unwrap();
    project.ok(&["apply", "--auto-approve"], None, 0);
    assert_eq!(live_policy(&iam), Some((14, false, Some(90), None)));
    // Deleting takes an explicit `delete = true`.
    std::fs::write(
        project.path("keyrot.hcl"),
        "password_policy {\n  delete = true\n}\n",
    )
    .unwrap();
    let plan = project.ok(&["plan"], None, 0);
    assert!(
        plan.stdout.contains("delete the account password policy"),
        "{}",
        plan.stdout
    );
    project.ok(&["apply", "--auto-approve"], None, 0);
    assert_eq!(live_policy(&iam), None);
    project.ok(&["plan", "--detailed-exitcode"], None, 0);
    // Both changes are in the audit trail, account-wide (no address).
    let log = project.ok(&["log", "--json"], None, 0);
    let actions: Vec<String> = log
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_matches_schema("event.schema.json", &v);
            assert!(v.get("address").is_none(), "{v}");
            assert_eq!(v["outcome"], "succeeded");
            v["action"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        actions,
        ["update_password_policy", "delete_password_policy"]
    );
    let text = project.ok(&["log"], None, 0).stdout;
    assert!(text.contains("update_password_policy  account"), "{text}");

    // Out-of-range values are refused at validate time, before any IAM call.
    std::fs::write(
        project.path("keyrot.hcl"),
        "password_policy {\n  max_password_age = 2000\n}\n",
    )
    .unwrap();
    let run = project.ok(&["validate"], None, 1);
    assert!(
        run.stderr
            .contains("keyrot.hcl:2:22: `max_password_age` must be a whole number from 1 to 1095"),
        "{}",
        run.stderr
    );
}
