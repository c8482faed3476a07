//! The account password policy: how AWS makes IAM users rotate passwords. Pure: the
//! desired spec from the config, the live policy, and the diff between them.

use serde::{Deserialize, Serialize};

/// A live (or desired, with IAM's defaults filled in) policy: every field has a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicy {
    pub minimum_password_length: u32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase_characters: bool,
    pub require_lowercase_characters: bool,
    pub allow_users_to_change_password: bool,
    /// Days; `None` means passwords never expire.
    pub max_password_age: Option<u32>,
    /// Previous passwords remembered; `None` means no reuse prevention.
    pub password_reuse_prevention: Option<u32>,
    pub hard_expiry: bool,
}

impl Default for PasswordPolicy {
    /// What UpdateAccountPasswordPolicy sets for every field it is not given.
    fn default() -> Self {
        PasswordPolicy {
            minimum_password_length: 6,
            require_symbols: false,
            require_numbers: false,
            require_uppercase_characters: false,
            require_lowercase_characters: false,
            allow_users_to_change_password: false,
            max_password_age: None,
            password_reuse_prevention: None,
            hard_expiry: false,
        }
    }
}

/// The `password_policy` block: each field set or left to IAM's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicySpec {
    pub minimum_password_length: Option<u32>,
    pub require_symbols: Option<bool>,
    pub require_numbers: Option<bool>,
    pub require_uppercase_characters: Option<bool>,
    pub require_lowercase_characters: Option<bool>,
    pub allow_users_to_change_password: Option<bool>,
    pub max_password_age: Option<u32>,
    pub password_reuse_prevention: Option<u32>,
    pub hard_expiry: Option<bool>,
    /// `delete = true`: remove the live policy (never done just because the block is gone).
    pub delete: bool,
}

/// IAM's accepted ranges, checked at `validate` time.
pub const RANGES: &[(&str, u32, u32)] = &[
    ("minimum_password_length", 6, 128),
    ("max_password_age", 1, 1095),
    ("password_reuse_prevention", 1, 24),
];

impl PolicySpec {
    /// The whole policy IAM will hold after an update: unset fields reset to defaults.
    pub fn effective(&self) -> PasswordPolicy {
        let d = PasswordPolicy::default();
        PasswordPolicy {
            minimum_password_length: self
                .minimum_password_length
                .unwrap_or(d.minimum_password_length),
            require_symbols: self.require_symbols.unwrap_or(d.require_symbols),
            require_numbers: self.require_numbers.unwrap_or(d.require_numbers),
            require_uppercase_characters: self
                .require_uppercase_characters
                .unwrap_or(d.require_uppercase_characters),
            require_lowercase_characters: self
                .require_lowercase_characters
                .unwrap_or(d.require_lowercase_characters),
            allow_users_to_change_password: self
                .allow_users_to_change_password
                .unwrap_or(d.allow_users_to_change_password),
            max_password_age: self.max_password_age,
            password_reuse_prevention: self.password_reuse_prevention,
            hard_expiry: self.hard_expiry.unwrap_or(d.hard_expiry),
        }
    }

    fn is_set(&self, field: &str) -> bool {
        match field {
            "minimum_password_length" => self.minimum_password_length.is_some(),
            "require_symbols" => self.require_symbols.is_some(),
            "require_numbers" => self.require_numbers.is_some(),
            "require_uppercase_characters" => self.require_uppercase_characters.is_some(),
            "require_lowercase_characters" => self.require_lowercase_characters.is_some(),
            "allow_users_to_change_password" => self.allow_users_to_change_password.is_some(),
            "max_password_age" => self.max_password_age.is_some(),
            "password_reuse_prevention" => self.password_reuse_prevention.is_some(),
            "hard_expiry" => self.hard_expiry.is_some(),
            _ => false,
        }
    }
}

impl PasswordPolicy {
    /// (field, value) in a fixed order, for diffs and tables.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let opt = |v: Option<u32>| v.map_or("none".to_string(), |n| n.to_string());
        vec![
            (
                "minimum_password_length",
                self.minimum_password_length.to_string(),
            ),
            ("require_symbols", self.require_symbols.to_string()),
            ("require_numbers", self.require_numbers.to_string()),
            (
                "require_uppercase_characters",
                self.require_uppercase_characters.to_string(),
            ),
            (
                "require_lowercase_characters",
                self.require_lowercase_characters.to_string(),
            ),
            (
                "allow_users_to_change_password",
                self.allow_users_to_change_password.to_string(),
            ),
            ("max_password_age", opt(self.max_password_age)),
            (
                "password_reuse_prevention",
                opt(self.password_reuse_prevention),
            ),
            ("hard_expiry", self.hard_expiry.to_string()),
        ]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyAction {
    /// UpdateAccountPasswordPolicy (also creates it).
    Update,
    /// DeleteAccountPasswordPolicy.
    Delete,
}

/// One field of the policy, before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: Option<String>,
    pub after: Option<String>,
    /// Not set in the config, so IAM resets it to its default.
    pub resets: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyPlan {
    pub action: PolicyAction,
    pub before: Option<PasswordPolicy>,
    pub after: Option<PasswordPolicy>,
    /// Every field, changed or not, so the plan shows the whole policy IAM will hold.
    pub fields: Vec<FieldChange>,
}

impl PolicyPlan {
    pub fn changed(&self) -> impl Iterator<Item = &FieldChange> {
        self.fields.iter().filter(|f| f.before != f.after)
    }
}

/// What it takes to go from `live` to `spec`; `None` when they already agree.
pub fn plan(live: Option<&PasswordPolicy>, spec: &PolicySpec) -> Option<PolicyPlan> {
    let (action, after) = if spec.delete {
        (PolicyAction::Delete, None)
    } else {
        (PolicyAction::Update, Some(spec.effective()))
    };
    if live == after.as_ref() {
        return None;
    }
    let before_fields = live.map(PasswordPolicy::fields);
    let after_fields = after.as_ref().map(PasswordPolicy::fields);
    let names = PasswordPolicy::default().fields();
    let fields = names
        .iter()
        .enumerate()
        .map(|(i, (field, _))| {
            let before = before_fields.as_ref().map(|f| f[i].1.clone());
            let after = after_fields.as_ref().map(|f| f[i].1.clone());
            FieldChange {
                field,
                resets: !spec.delete && !spec.is_set(field) && before.is_some() && before != after,
                before,
                after,
            }
        })
        .collect();
    Some(PolicyPlan {
        action,
        before: live.cloned(),
        after,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converged_policy_plans_nothing() {
        let spec = PolicySpec {
            minimum_password_length: Some(14),
            max_password_age: Some(90),
            ..Default::default()
        };
        assert_eq!(plan(Some(&spec.effective()), &spec), None);
    }

    #[test]
    fn unset_fields_that_differ_are_shown_as_resets() {
        let live = PasswordPolicy {
            minimum_password_length: 12,
            require_symbols: true,
            password_reuse_prevention: Some(5),
            ..Default::default()
        };
        let spec = PolicySpec {
            minimum_password_length: Some(14),
            ..Default::default()
        };
        let p = plan(Some(&live), &spec).unwrap();
        assert_eq!(p.action, PolicyAction::Update);
        let changed: Vec<_> = p
            .changed()
            .map(|f| (f.field, f.before.clone(), f.after.clone(), f.resets))
            .collect();
        assert_eq!(
            changed,
            vec![
                (
                    "minimum_password_length",
                    Some("12".into()),
                    Some("14".into()),
                    false
                ),
                (
                    "require_symbols",
                    Some("true".into()),
                    Some("false".into()),
                    true
                ),
                (
                    "password_reuse_prevention",
                    Some("5".into()),
                    Some("none".into()),
                    true
                ),
            ]
        );
        assert_eq!(p.fields.len(), 9, "the whole policy is shown");
    }

    #[test]
    fn creating_and_deleting() {
        let spec = PolicySpec {
            require_numbers: Some(true),
            ..Default::default()
        };
        let create = plan(None, &spec).unwrap();
        assert!(create.before.is_none() && create.fields.iter().all(|f| !f.resets));
        let delete = PolicySpec {
            delete: true,
            ..Default::default()
        };
        assert_eq!(plan(None, &delete), None, "nothing to delete");
        let p = plan(Some(&spec.effective()), &delete).unwrap();
        assert_eq!(p.action, PolicyAction::Delete);
        assert!(p.after.is_none());
    }
}
