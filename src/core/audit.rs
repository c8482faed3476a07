//! Account-wide findings from the IAM credential report (the CIS checks on credentials).
//! Pure: CSV text and `now` in, findings out. Findings never change IAM.

use crate::core::duration::{humanize, Window};
use crate::core::model::Time;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The account whose report it comes from (`None`: keyrot's own).
    pub account: Option<String>,
    /// The IAM user, or `<root_account>`.
    pub user: String,
    /// Stable code: `root_access_key`, `key_too_old`, `key_unused`, `cert_too_old`.
    pub check: &'static str,
    /// The CIS AWS Foundations control it corresponds to.
    pub cis: &'static str,
    pub message: String,
}

impl Finding {
    /// The same finding, from `account`'s report.
    pub fn in_account(self, account: Option<&str>) -> Finding {
        Finding {
            account: account.map(str::to_string),
            ..self
        }
    }

    /// The user as messages name it: `alice`, or `alice (account prod)`.
    pub fn who(&self) -> String {
        match &self.account {
            Some(account) => format!("{} (account {account})", self.user),
            None => self.user.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct AuditOptions {
    /// Active keys and certificates older than this are findings (CIS: 90 days).
    pub max_age: Window,
    /// Active keys unused this long are findings (CIS: 45 days).
    pub unused_for: Window,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            max_age: Window::days(90),
            unused_for: Window::days(45),
        }
    }
}

/// The report's own dates, so a reader can tell them from keyrot's clock (`--now`).
fn day(t: Time) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// A report time: RFC 3339, or `N/A` / `not_supported` / `no_information` for none.
fn time(value: &str) -> Option<Time> {
    value.parse().ok()
}

/// Findings from the credential report's CSV (RFC 4180: quoted fields, embedded commas,
/// quotes and line breaks are read by the `csv` crate).
pub fn findings(csv: &str, now: Time, options: &AuditOptions) -> Result<Vec<Finding>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(csv.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the credential report is not CSV: {e}"))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err("the credential report is empty".into());
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    let need =
        |name: &str| col(name).ok_or(format!("the credential report has no `{name}` column"));
    let user_col = need("user")?;
    let mut out = Vec::new();
    for record in reader.records() {
        let row = record.map_err(|e| format!("the credential report is not CSV: {e}"))?;
        if row.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let get = |name: &str| col(name).and_then(|i| row.get(i)).unwrap_or("");
        let user = row.get(user_col).unwrap_or_default().to_string();
        for n in 1..=2 {
            access_key_findings(&mut out, &user, n, &get, now, options);
        }
        for n in 1..=2 {
            cert_findings(&mut out, &user, n, &get, now, options);
        }
    }
    Ok(out)
}

/// A report row's column by name (`""` when absent).
type Column<'a> = dyn Fn(&str) -> &'a str + 'a;

/// Findings for access key `n` (1 or 2) of one report row.
fn access_key_findings(
    out: &mut Vec<Finding>,
    user: &str,
    n: u8,
    get: &Column,
    now: Time,
    options: &AuditOptions,
) {
    if get(&format!("access_key_{n}_active")) != "true" {
        return;
    }
    if user == "<root_account>" {
        out.push(Finding {
            account: None,
            user: user.to_string(),
            check: "root_access_key",
            cis: "1.4",
            message: format!("the root account has an active access key ({n}): delete it; use IAM users or roles"),
        });
        return;
    }
    let rotated = time(get(&format!("access_key_{n}_last_rotated")));
    if let Some(rotated) = rotated.filter(|r| now - *r > options.max_age.to_chrono()) {
        out.push(Finding {
            account: None,
            user: user.to_string(),
            check: "key_too_old",
            cis: "1.14",
            message: format!(
                "active access key {n} is {} old (last rotated {}; more than {})",
                humanize(now - rotated),
                day(rotated),
                options.max_age
            ),
        });
    }
    // Never used counts from when the key was made.
    let used = time(get(&format!("access_key_{n}_last_used_date"))).or(rotated);
    if let Some(used) = used.filter(|u| now - *u > options.unused_for.to_chrono()) {
        out.push(Finding {
            account: None,
            user: user.to_string(),
            check: "key_unused",
            cis: "1.12",
            message: format!(
                "active access key {n} has not been used for {} (since {}; more than {})",
                humanize(now - used),
                day(used),
                options.unused_for
            ),
        });
    }
}

/// Findings for signing certificate `n` (1 or 2) of one report row.
fn cert_findings(
    out: &mut Vec<Finding>,
    user: &str,
    n: u8,
    get: &Column,
    now: Time,
    options: &AuditOptions,
) {
    if get(&format!("cert_{n}_active")) != "true" {
        return;
    }
    if let Some(rotated) = time(get(&format!("cert_{n}_last_rotated")))
        .filter(|r| now - *r > options.max_age.to_chrono())
    {
        out.push(Finding {
            account: None,
            user: user.to_string(),
            check: "cert_too_old",
            cis: "1.14",
            message: format!(
                "active signing certificate {n} is {} old (uploaded {}; more than {})",
                humanize(now - rotated),
                day(rotated),
                options.max_age
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    #[test]
    fn finds_root_keys_old_keys_unused_keys_and_old_certs() {
        let csv = format!(
            "{HEADER}\n\
             <root_account>,arn:aws:iam::1:root,2020-01-01T00:00:00+00:00,not_supported,N/A,not_supported,not_supported,true,true,2020-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
             old,arn:aws:iam::1:user/old,2026-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-01-01T00:00:00+00:00,2026-05-01T00:00:00+00:00,us-east-1,iam,false,N/A,N/A,N/A,N/A,true,2026-01-01T00:00:00+00:00,false,N/A\n\
             fresh,arn:aws:iam::1:user/fresh,2026-04-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-04-20T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
             \"we,ird\",arn:aws:iam::1:user/we,ird,2026-04-01T00:00:00+00:00,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let now: Time = "2026-05-01T00:00:00Z".parse().unwrap();
        let found = findings(&csv, now, &AuditOptions::default()).unwrap();
        let codes: Vec<_> = found.iter().map(|f| (f.user.as_str(), f.check)).collect();
        assert_eq!(
            codes,
            vec![
                ("<root_account>", "root_access_key"),
                ("old", "key_too_old"),
                ("old", "cert_too_old"),
            ]
        );
        // At a later `now`, the fresh key is unused for more than 45 days.
        let later: Time = "2026-06-20T00:00:00Z".parse().unwrap();
        let found = findings(&csv, later, &AuditOptions::default()).unwrap();
        assert!(found
            .iter()
            .any(|f| f.user == "fresh" && f.check == "key_unused"));
        assert!(found
            .iter()
            .any(|f| f.user == "old" && f.check == "key_unused"));
    }

    #[test]
    fn a_report_without_columns_is_an_error_not_a_panic() {
        assert!(findings("", Time::default(), &AuditOptions::default()).is_err());
        assert!(findings("a,b\n1,2", Time::default(), &AuditOptions::default()).is_err());
    }

    /// RFC 4180: a quoted field may hold commas, doubled quotes and a line break; the row
    /// after it is still read with the right columns.
    #[test]
    fn quoted_fields_follow_rfc_4180() {
        let csv = format!(
            "{HEADER}\n\
             \"odd \"\"name\"\",\nsecond line\",arn:aws:iam::1:user/odd,2026-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-01-01T00:00:00+00:00,2026-05-01T00:00:00+00:00,us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
             old,arn:aws:iam::1:user/old,2026-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-01-01T00:00:00+00:00,2026-05-01T00:00:00+00:00,us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let now: Time = "2026-05-01T00:00:00Z".parse().unwrap();
        let found = findings(&csv, now, &AuditOptions::default()).unwrap();
        let codes: Vec<_> = found.iter().map(|f| (f.user.as_str(), f.check)).collect();
        assert_eq!(
            codes,
            vec![
                ("odd \"name\",\nsecond line", "key_too_old"),
                ("old", "key_too_old")
            ]
        );
        assert!(findings("", now, &AuditOptions::default()).is_err());
    }
}
