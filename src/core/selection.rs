//! Selectors expanded against live IAM users into ordinary credential sets: which users
//! each `users` block chooses in its account (path, tags, name globs, exclude), `${user}`
//! and `${account}` filled in, a `user` block first, a user two selectors choose refused.
//! Pure: the caller lists the users.

use crate::core::config::{
    CertSource, Check, Config, Confirm, Selection, Selector, SetConfig, SetTemplate, Sink,
};
use crate::core::diagnostic::Diagnostic;
use crate::core::model::{Address, IamUser, UserQuery};
use std::collections::{BTreeMap, BTreeSet};

/// Users as listed, per account (`None`: keyrot's own), or why an account could not be:
/// then its selectors choose nothing and record no choice.
pub type Listings = BTreeMap<Option<String>, Result<Vec<IamUser>, String>>;

/// One listing per account that serves every selector there: with tags only when some
/// selector matches on them; under the longest path prefix they all share.
pub fn queries(selectors: &[Selector]) -> BTreeMap<Option<String>, UserQuery> {
    let mut by_account: BTreeMap<Option<String>, Vec<&Selector>> = BTreeMap::new();
    for s in selectors {
        by_account.entry(s.account.clone()).or_default().push(s);
    }
    by_account
        .into_iter()
        .map(|(account, selectors)| (account, query(&selectors)))
        .collect()
}

fn query(selectors: &[&Selector]) -> UserQuery {
    let with_tags = selectors.iter().any(|s| !s.tags.is_empty());
    let prefix = |s: &Selector| s.path_prefix.clone().unwrap_or_default();
    let mut shared = selectors.first().map(|s| prefix(s)).unwrap_or_default();
    for s in selectors {
        let prefix = prefix(s);
        let common = shared
            .char_indices()
            .zip(prefix.chars())
            .find(|((_, a), b)| a != b)
            .map_or(shared.len().min(prefix.len()), |((i, _), _)| i);
        shared.truncate(common);
    }
    // A prefix cut inside a path segment would still be right, but say whole segments.
    let cut = shared.rfind('/').map_or(0, |i| i + 1);
    shared.truncate(cut);
    UserQuery {
        path_prefix: (shared.len() > 1).then_some(shared),
        with_tags,
    }
}

/// Replaces the sets selectors chose (if any) by what they choose among the listed users of
/// their account, and records the selection. `Ok` carries warnings (a selector that chose
/// nobody); a user two selectors choose is an error naming both.
pub fn expand(
    config: &mut Config,
    listings: &Listings,
) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
    config.sets.retain(|_, set| set.selector.is_none());
    let chosen = choose(config, listings)?;
    let mut sets = Vec::new();
    let mut selection = Selection::default();
    for (account, listed) in listings {
        if let (Some(account), Err(why)) = (account, listed) {
            selection.unlisted.insert(account.clone(), why.clone());
        }
    }
    let mut warnings = Vec::new();
    for (i, selector) in config.selectors.iter().enumerate() {
        if !matches!(listings.get(&selector.account), Some(Ok(_))) {
            continue;
        }
        let names = chosen.get(&i).cloned().unwrap_or_default();
        if names.is_empty() {
            warnings.push(selector.at.diagnostic(
                format!("selector `{}` matches no IAM user", selector.name),
                "check its path_prefix, tags and names against `aws iam list-users`; users with a `user` block of their own are not counted",
            ));
        }
        for name in &names {
            sets.extend(selector.sets.iter().map(|t| instantiate(t, selector, name)));
        }
        selection.chosen.insert(
            selector.name.clone(),
            names.iter().map(|n| n.to_string()).collect(),
        );
    }
    config
        .sets
        .extend(sets.into_iter().map(|s| (s.address.clone(), s)));
    config.selection = Some(selection);
    Ok(warnings)
}

/// Selector index → the names of the users it chooses, sorted; or the collisions.
fn choose<'a>(
    config: &Config,
    listings: &'a Listings,
) -> Result<BTreeMap<usize, Vec<&'a str>>, Vec<Diagnostic>> {
    // A user with a `user` block of its own (in the same account) is not for selectors.
    let declared: BTreeSet<(Option<&str>, &str)> = config
        .sets
        .keys()
        .map(|a| (a.account(), a.user.as_str()))
        .collect();
    let mut chosen: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    // (earlier selector, later selector) → the users both choose.
    let mut collisions: BTreeMap<(usize, usize), Vec<&str>> = BTreeMap::new();
    for (account, users) in listings
        .iter()
        .filter_map(|(a, l)| Some((a, l.as_ref().ok()?)))
    {
        let selectors: Vec<(usize, &Selector)> = (config.selectors.iter().enumerate())
            .filter(|(_, s)| &s.account == account)
            .collect();
        for user in users {
            let name = user.name.as_str();
            if declared.contains(&(account.as_deref(), name)) {
                continue;
            }
            let mut matching = selectors.iter().filter(|(_, s)| matches(s, user));
            let Some((first, _)) = matching.next() else {
                continue;
            };
            chosen.entry(*first).or_default().push(name);
            for (later, _) in matching {
                collisions.entry((*first, *later)).or_default().push(name);
            }
        }
    }
    if !collisions.is_empty() {
        collisions.values_mut().for_each(|names| names.sort());
        return Err(collision_errors(&config.selectors, &collisions));
    }
    for names in chosen.values_mut() {
        names.sort();
        names.dedup();
    }
    Ok(chosen)
}

fn collision_errors(
    selectors: &[Selector],
    collisions: &BTreeMap<(usize, usize), Vec<&str>>,
) -> Vec<Diagnostic> {
    collisions
        .iter()
        .map(|((first, later), users)| {
            let (first, later) = (&selectors[*first], &selectors[*later]);
            later.at.diagnostic(
                format!(
                    "selectors `{}` and `{}` both match user(s) {}",
                    first.name,
                    later.name,
                    users.join(", ")
                ),
                format!(
                    "a user may be chosen by one selector only: add it to `exclude` of one of them (`{}` is at {}), or give it a `user` block, which wins over selectors",
                    first.name, first.at
                ),
            )
        })
        .collect()
}

/// Whether `selector` chooses `user`: under its path, with all its tags, matching one of
/// its name patterns (if any) and none of its exclusions.
pub fn matches(selector: &Selector, user: &IamUser) -> bool {
    let path = selector
        .path_prefix
        .as_deref()
        .is_none_or(|p| user.path.starts_with(p));
    let tags = selector
        .tags
        .iter()
        .all(|(k, v)| user.tags.get(k) == Some(v));
    let named = selector.names.is_empty() || selector.names.iter().any(|p| glob(p, &user.name));
    let excluded = selector.exclude.iter().any(|p| glob(p, &user.name));
    path && tags && named && !excluded
}

/// Glob match over the whole text: `*` any run of characters, `?` exactly one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and the text position it is currently taken to reach.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A template's set for one user, `${user}` and `${account}` filled in.
fn instantiate(template: &SetTemplate, selector: &Selector, user: &str) -> SetConfig {
    let account = selector.account.as_deref().unwrap_or_default();
    let fill = |text: &str| text.replace("${user}", user).replace("${account}", account);
    SetConfig {
        address: Address {
            account: selector.account.clone(),
            user: user.to_string(),
            kind: template.kind,
        },
        windows: template.windows,
        sinks: template.sinks.iter().map(|s| fill_sink(s, &fill)).collect(),
        certificate: template.certificate.as_ref().map(|c| fill_cert(c, &fill)),
        selector: Some(selector.name.clone()),
        require_new_key_use: template.require_new_key_use,
        confirm: Confirm {
            checks: template
                .confirm
                .checks
                .iter()
                .map(|c| fill_check(c, &fill))
                .collect(),
            on_failure: template.confirm.on_failure,
        },
    }
}

/// A confirm check for one user: `${user}` and `${account}` filled in its command, the
/// values of its `env` and its URL.
fn fill_check(check: &Check, fill: &dyn Fn(&str) -> String) -> Check {
    match check {
        Check::Exec {
            command,
            timeout,
            env,
        } => {
            let mut env = env.clone();
            env.set.values_mut().for_each(|v| *v = fill(v));
            Check::Exec {
                command: command.iter().map(|c| fill(c)).collect(),
                timeout: *timeout,
                env,
            }
        }
        Check::Http {
            url,
            status,
            timeout,
        } => Check::Http {
            url: fill(url),
            status: *status,
            timeout: *timeout,
        },
    }
}

fn fill_sink(sink: &Sink, fill: &dyn Fn(&str) -> String) -> Sink {
    let path = |p: &std::path::Path| fill(&p.to_string_lossy()).into();
    match sink {
        Sink::File { path: p, format } => Sink::File {
            path: path(p),
            format: *format,
        },
        Sink::Stdout { format } => Sink::Stdout { format: *format },
        Sink::SecretsManager {
            account,
            secret_id,
            create,
            format,
        } => Sink::SecretsManager {
            account: account.clone(),
            secret_id: fill(secret_id),
            create: *create,
            format: *format,
        },
        Sink::SsmParameter {
            account,
            name,
            kms_key_id,
            format,
        } => Sink::SsmParameter {
            account: account.clone(),
            name: fill(name),
            kms_key_id: kms_key_id.as_deref().map(fill),
            format: *format,
        },
        Sink::AwsProfile { file, profile } => Sink::AwsProfile {
            file: path(file),
            profile: fill(profile),
        },
        Sink::Exec {
            command,
            timeout,
            format,
            env,
        } => {
            let mut env = env.clone();
            env.set.values_mut().for_each(|v| *v = fill(v));
            Sink::Exec {
                command: command.iter().map(|c| fill(c)).collect(),
                timeout: *timeout,
                format: *format,
                env,
            }
        }
    }
}

fn fill_cert(source: &CertSource, fill: &dyn Fn(&str) -> String) -> CertSource {
    match source {
        CertSource::Generate {
            algorithm,
            validity,
            subject,
        } => CertSource::Generate {
            algorithm: *algorithm,
            validity: *validity,
            subject: subject.iter().map(|(k, v)| (k.clone(), fill(v))).collect(),
        },
        CertSource::Files {
            certificate_file,
            private_key_file,
        } => CertSource::Files {
            certificate_file: fill(&certificate_file.to_string_lossy()).into(),
            private_key_file: fill(&private_key_file.to_string_lossy()).into(),
        },
    }
}

#[cfg(test)]
mod tests;
