//! Selectors expanded against live IAM users into ordinary credential sets: which users
//! each `users` block chooses (path, tags, name globs, exclude), `${user}` filled in, a
//! `user` block first, a user two selectors choose refused. Pure: the caller lists users.

use crate::core::config::{CertSource, Config, Selection, Selector, SetConfig, SetTemplate, Sink};
use crate::core::diagnostic::Diagnostic;
use crate::core::model::{Address, IamUser, UserQuery};
use std::collections::{BTreeMap, BTreeSet};

/// The one listing that serves every selector: with tags only when some selector matches
/// on them; under the longest path prefix they all share. `None` without selectors.
pub fn query(selectors: &[Selector]) -> Option<UserQuery> {
    let first = selectors.first()?;
    let with_tags = selectors.iter().any(|s| !s.tags.is_empty());
    let mut shared = first.path_prefix.clone().unwrap_or_default();
    for s in selectors {
        let prefix = s.path_prefix.as_deref().unwrap_or_default();
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
    Some(UserQuery {
        path_prefix: (shared.len() > 1).then_some(shared),
        with_tags,
    })
}

/// Replaces the sets selectors chose (if any) by what they choose among `users`, and
/// records the selection. `Ok` carries warnings (a selector that chose nobody); a user two
/// selectors choose is an error naming both.
pub fn expand(config: &mut Config, users: &[IamUser]) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
    config.sets.retain(|_, set| set.selector.is_none());
    let declared: BTreeSet<&str> = config.sets.keys().map(|a| a.user.as_str()).collect();
    // Selector index → the users it chose; user → the selector that chose it first.
    let mut chosen: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    let mut claimed: BTreeMap<&str, usize> = BTreeMap::new();
    // (earlier selector, later selector) → the users both choose.
    let mut collisions: BTreeMap<(usize, usize), Vec<&str>> = BTreeMap::new();
    for user in users.iter().filter(|u| !declared.contains(u.name.as_str())) {
        let name = user.name.as_str();
        for (i, _) in (config.selectors.iter().enumerate()).filter(|(_, s)| matches(s, user)) {
            match claimed.get(name) {
                Some(&first) => collisions.entry((first, i)).or_default().push(name),
                None => {
                    claimed.insert(name, i);
                    chosen.entry(i).or_default().push(name);
                }
            }
        }
    }
    if !collisions.is_empty() {
        return Err(collision_errors(&config.selectors, &collisions));
    }
    let mut sets = Vec::new();
    let mut selection = Selection::new();
    let mut warnings = Vec::new();
    for (i, selector) in config.selectors.iter().enumerate() {
        let mut names = chosen.remove(&i).unwrap_or_default();
        names.sort();
        names.dedup();
        if names.is_empty() {
            warnings.push(selector.at.diagnostic(
                format!("selector `{}` matches no IAM user", selector.name),
                "check its path_prefix, tags and names against `aws iam list-users`; users with a `user` block of their own are not counted",
            ));
        }
        for name in &names {
            sets.extend(
                selector
                    .sets
                    .iter()
                    .map(|t| instantiate(t, &selector.name, name)),
            );
        }
        selection.insert(
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

/// A template's set for one user, `${user}` filled in.
fn instantiate(template: &SetTemplate, selector: &str, user: &str) -> SetConfig {
    let fill = |text: &str| text.replace("${user}", user);
    SetConfig {
        address: Address {
            user: user.to_string(),
            kind: template.kind,
        },
        windows: template.windows,
        sinks: template.sinks.iter().map(|s| fill_sink(s, &fill)).collect(),
        certificate: template.certificate.as_ref().map(|c| fill_cert(c, &fill)),
        selector: Some(selector.to_string()),
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
            secret_id,
            create,
            format,
        } => Sink::SecretsManager {
            secret_id: fill(secret_id),
            create: *create,
            format: *format,
        },
        Sink::SsmParameter {
            name,
            kms_key_id,
            format,
        } => Sink::SsmParameter {
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
