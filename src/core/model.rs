//! Plain data shared by the core: addresses, key ids, statuses and the live inventory.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub type Time = DateTime<Utc>;

/// Instants read from keyrot's files and flags: 1970 to 9999, far inside chrono's range,
/// so window arithmetic on them (windows are at most 100 years) cannot overflow. Use as
/// `#[serde(with = "crate::core::model::instant")]` (or `instant::option`).
pub mod instant {
    use super::Time;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Refuses an instant outside 1970–9999.
    pub fn check(t: Time) -> Result<Time, String> {
        if (1970..=9999).contains(&chrono::Datelike::year(&t)) {
            Ok(t)
        } else {
            Err(format!(
                "the instant {} is outside the years 1970 to 9999 keyrot accepts",
                t.to_rfc3339()
            ))
        }
    }

    /// Parses an RFC 3339 instant and checks its range (for flags).
    pub fn parse(text: &str) -> Result<Time, String> {
        let t: Time = text
            .parse()
            .map_err(|e| format!("`{text}` is not an RFC 3339 instant: {e}"))?;
        check(t)
    }

    pub fn serialize<S: Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
        t.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        check(Time::deserialize(d)?).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::{check, Time};
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(t: &Option<Time>, s: S) -> Result<S::Ok, S::Error> {
            t.serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Time>, D::Error> {
            Option::<Time>::deserialize(d)?
                .map(check)
                .transpose()
                .map_err(serde::de::Error::custom)
        }
    }
}

/// RFC 3339 in whole seconds, UTC: how every output and file writes an instant.
pub fn timestamp(t: Time) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// [`timestamp`] written straight into a formatter (no `String` per instant: a fleet's
/// plan writes hundreds of thousands).
#[derive(Clone, Copy, Debug)]
pub struct Stamp(pub Time);

impl Stamp {
    /// `YYYY-MM-DDTHH:MM:SSZ` as [`timestamp`] writes it, put together digit by digit;
    /// `None` for a leap second or a year beyond four digits (chrono's own spelling then).
    fn digits(self) -> Option<[u8; 20]> {
        use chrono::{Datelike, Timelike};
        let t = self.0;
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        if t.nanosecond() >= 1_000_000_000 {
            return None;
        }
        let mut text = *b"0000-00-00T00:00:00Z";
        let fields = [
            (0, 4, year),
            (5, 2, t.month()),
            (8, 2, t.day()),
            (11, 2, t.hour()),
            (14, 2, t.minute()),
            (17, 2, t.second()),
        ];
        for (at, width, mut n) in fields {
            for digit in text[at..at + width].iter_mut().rev() {
                *digit = b'0' + (n % 10) as u8;
                n /= 10;
            }
        }
        Some(text)
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.digits() {
            Some(text) => f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?),
            None => f.write_str(&timestamp(self.0)),
        }
    }
}

impl Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.digits() {
            Some(text) => {
                s.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?)
            }
            None => s.serialize_str(&timestamp(self.0)),
        }
    }
}

/// The kind of credential a set holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    AccessKey,
    SigningCertificate,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::AccessKey => "access_key",
            CredentialKind::SigningCertificate => "signing_certificate",
        }
    }

    /// What one credential of this kind is called in messages.
    pub fn noun(self) -> &'static str {
        match self {
            CredentialKind::AccessKey => "access key",
            CredentialKind::SigningCertificate => "signing certificate",
        }
    }

    /// The noun in tight spaces (plan slots): "key", "certificate".
    pub fn short_noun(self) -> &'static str {
        match self {
            CredentialKind::AccessKey => "key",
            CredentialKind::SigningCertificate => "certificate",
        }
    }

    /// Whether IAM records when a credential of this kind was last used.
    pub fn has_last_use(self) -> bool {
        match self {
            CredentialKind::AccessKey => true,
            CredentialKind::SigningCertificate => false,
        }
    }

    /// The aws CLI command that deletes one credential by hand.
    pub fn delete_command(self, user: &str, id: &KeyId) -> String {
        match self {
            CredentialKind::AccessKey => {
                format!("aws iam delete-access-key --user-name {user} --access-key-id {id}")
            }
            CredentialKind::SigningCertificate => format!(
                "aws iam delete-signing-certificate --user-name {user} --certificate-id {id}"
            ),
        }
    }
}

/// `user.<name>.access_key`: one user's set of credentials of one kind; in an account
/// keyrot reaches by AssumeRole, `account.<account>.user.<name>.access_key`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    /// The `account` block the user lives in; `None`: the account keyrot's own credentials
    /// are in.
    pub account: Option<String>,
    pub user: String,
    pub kind: CredentialKind,
}

/// Account names: 1-64 letters, digits, `_` and `-` (no dots, so addresses parse back).
pub fn valid_account_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Address {
    pub fn access_key(user: impl Into<String>) -> Self {
        Address {
            account: None,
            user: user.into(),
            kind: CredentialKind::AccessKey,
        }
    }

    pub fn signing_certificate(user: impl Into<String>) -> Self {
        Address {
            account: None,
            user: user.into(),
            kind: CredentialKind::SigningCertificate,
        }
    }

    /// The same set in `account`.
    pub fn in_account(self, account: Option<String>) -> Self {
        Address { account, ..self }
    }

    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let hint =
            "expected an address like `user.NAME.access_key`, `user.NAME.signing_certificate` \
             or `account.ACCOUNT.user.NAME.access_key`";
        let (account, rest) = match text.strip_prefix("account.") {
            Some(rest) => {
                let (account, rest) = rest
                    .split_once('.')
                    .filter(|(a, _)| valid_account_name(a))
                    .ok_or_else(|| format!("`{text}`: {hint}"))?;
                (Some(account.to_string()), rest)
            }
            None => (None, text),
        };
        let rest = rest
            .strip_prefix("user.")
            .ok_or_else(|| format!("`{text}`: {hint}"))?;
        let (user, kind) = rest
            .rsplit_once('.')
            .ok_or_else(|| format!("`{text}`: {hint}"))?;
        if user.is_empty() {
            return Err(format!("`{text}`: {hint}"));
        }
        let address = match kind {
            "access_key" => Address::access_key(user),
            "signing_certificate" => Address::signing_certificate(user),
            other => {
                return Err(format!(
                    "`{text}`: unknown credential kind `{other}`; {hint}"
                ))
            }
        };
        Ok(address.in_account(account))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(account) = &self.account {
            write!(f, "account.{account}.")?;
        }
        write!(f, "user.{}.{}", self.user, self.kind.as_str())
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Address::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An access key id. Not a secret, but shown masked in human output.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub String);

impl KeyId {
    /// All but the last four characters hidden: `****************WXYZ`.
    pub fn masked(&self) -> String {
        KeyIds::Masked.display(self).to_string()
    }
}

/// How key ids are shown to people: masked to their last four characters (the default)
/// or in full, to match against CloudTrail and the IAM console. A display choice only:
/// state, plan files and digests always hold full ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyIds {
    #[default]
    Masked,
    Full,
}

impl KeyIds {
    pub fn show(self, id: &KeyId) -> String {
        self.display(id).to_string()
    }

    /// [`KeyIds::show`] without the `String`: written straight into a formatter.
    pub fn display(self, id: &KeyId) -> ShownId<'_> {
        ShownId { id, ids: self }
    }
}

/// A key id as [`KeyIds`] shows it; see [`KeyIds::display`].
#[derive(Clone, Copy, Debug)]
pub struct ShownId<'a> {
    id: &'a KeyId,
    ids: KeyIds,
}

impl fmt::Display for ShownId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id.0.as_str();
        if self.ids == KeyIds::Full {
            return f.write_str(id);
        }
        let hidden = id.chars().count().saturating_sub(4);
        let tail = id
            .char_indices()
            .nth(hidden)
            .map_or("", |(at, _)| &id[at..]);
        for _ in 0..hidden {
            f.write_str("*")?;
        }
        f.write_str(tail)
    }
}

impl Serialize for ShownId<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let id = self.id.0.as_str();
        if self.ids == KeyIds::Full {
            return s.serialize_str(id);
        }
        // Access key ids are 20 characters: masked on the stack, not through `fmt`.
        let hidden = id.chars().count().saturating_sub(4);
        let tail = id
            .char_indices()
            .nth(hidden)
            .map_or("", |(at, _)| &id[at..]);
        let mut text = [b'*'; 64];
        let Some(end) = Some(hidden + tail.len()).filter(|end| *end <= text.len()) else {
            return s.collect_str(self);
        };
        text[hidden..end].copy_from_slice(tail.as_bytes());
        s.serialize_str(std::str::from_utf8(&text[..end]).map_err(serde::ser::Error::custom)?)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Key status as IAM reports it. Open: unknown values (e.g. `Expired`) parse and display,
/// and the planner leaves such keys alone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyStatus {
    Active,
    Inactive,
    Other(String),
}

impl KeyStatus {
    pub fn parse(text: &str) -> Self {
        match text {
            "Active" => KeyStatus::Active,
            "Inactive" => KeyStatus::Inactive,
            other => KeyStatus::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
            KeyStatus::Other(s) => s,
        }
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for KeyStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for KeyStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(KeyStatus::parse(&String::deserialize(d)?))
    }
}

/// What IAM says about one credential (access key or signing certificate) right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveKey {
    pub id: KeyId,
    pub status: KeyStatus,
    /// CreateDate, or a certificate's UploadDate.
    pub created: Time,
    /// Signing certificates only: what the certificate itself says.
    pub cert: Option<CertInfo>,
}

/// The parts of an X.509 certificate a plan shows and the planner needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub not_after: Time,
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
}

/// Evidence of use for a key, from GetAccessKeyLastUsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LastUsed {
    Never,
    At(Time),
}

/// An IAM user as a listing returns it: what selectors choose by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IamUser {
    pub name: String,
    /// The IAM path, `/` when none was given.
    pub path: String,
    /// Empty when the listing was not asked for tags.
    pub tags: BTreeMap<String, String>,
}

/// What one user listing must return so that it serves every selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserQuery {
    /// Only users under this path (ListUsers' PathPrefix); `None`: every user.
    pub path_prefix: Option<String>,
    /// Each user's tags too: a listing that carries them (one paged call, not one per user).
    pub with_tags: bool,
}

/// Live IAM facts for the declared credential sets. A set absent from `credentials` is one
/// whose user does not exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Each set's live credentials (access keys or signing certificates), oldest first.
    pub credentials: BTreeMap<Address, Vec<LiveKey>>,
    pub last_used: BTreeMap<KeyId, LastUsed>,
    /// The live account password policy: `None` when not read, `Some(None)` when unset.
    pub password_policy: Option<Option<crate::core::policy::PasswordPolicy>>,
    /// Accounts whose credentials could not be read (the role not assumed, a call refused),
    /// with why: their sets wait; nothing is concluded about them.
    pub unreachable: BTreeMap<String, String>,
}

impl Inventory {
    /// The live credentials of one set; `None` when the user does not exist.
    pub fn credentials(&self, address: &Address) -> Option<&[LiveKey]> {
        self.credentials.get(address).map(Vec::as_slice)
    }

    /// Each of `ids` with the set it was listed in (ids listed in none are left out).
    pub fn with_sets(&self, ids: &[KeyId]) -> Vec<(Address, KeyId)> {
        let set_of = |id: &KeyId| {
            let mut sets = self.credentials.iter();
            sets.find(|(_, keys)| keys.iter().any(|k| &k.id == id))
                .map(|(a, _)| (a.clone(), id.clone()))
        };
        ids.iter().filter_map(set_of).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_all_but_last_four() {
        assert_eq!(
            KeyId("AKIAABCDEFGH1234".into()).masked(),
            "************1234"
        );
        assert_eq!(KeyId("ab".into()).masked(), "ab");
        assert_eq!(KeyId(String::new()).masked(), "");
        assert_eq!(KeyId("ÄÖÜßé12".into()).masked(), "***ßé12");
        let id = KeyId("AKIAABCDEFGH1234".into());
        assert_eq!(KeyIds::default().show(&id), "************1234");
        assert_eq!(KeyIds::Full.show(&id), "AKIAABCDEFGH1234");
    }

    #[test]
    fn shown_ids_serialize_as_they_display() {
        let long = KeyId("A".repeat(100));
        for id in [
            KeyId("AKIAABCDEFGH1234".into()),
            KeyId("ÄÖÜßé12".into()),
            long,
        ] {
            for ids in [KeyIds::Masked, KeyIds::Full] {
                let json = serde_json::to_string(&ids.display(&id)).unwrap();
                assert_eq!(json, serde_json::to_string(&ids.show(&id)).unwrap());
            }
        }
    }

    #[test]
    fn stamps_write_what_timestamp_writes() {
        for text in [
            "2026-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "2026-06-30T23:59:59.999Z",
            "9999-12-31T23:59:59Z",
            "0001-02-03T04:05:06Z",
        ] {
            let t: Time = text.parse().unwrap();
            assert_eq!(Stamp(t).to_string(), timestamp(t), "{text}");
            let json = serde_json::to_string(&Stamp(t)).unwrap();
            assert_eq!(json, format!("\"{}\"", timestamp(t)));
        }
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1_500))
            .unwrap()
            .and_utc();
        assert_eq!(Stamp(leap).to_string(), timestamp(leap));
        let far = DateTime::<Utc>::MAX_UTC;
        assert_eq!(Stamp(far).to_string(), timestamp(far));
    }

    #[test]
    fn address_round_trips_and_rejects_garbage() {
        let a = Address::parse("user.ci.deployer.access_key").unwrap();
        assert_eq!(a.user, "ci.deployer");
        assert_eq!(a.to_string(), "user.ci.deployer.access_key");
        assert!(Address::parse("ci.access_key").is_err());
        assert!(Address::parse("user.ci.password").is_err());
        let cert = Address::parse("user.ci.signing_certificate").unwrap();
        assert_eq!(cert.kind, CredentialKind::SigningCertificate);
        assert!(Address::parse("user..access_key").is_err());
    }

    #[test]
    fn addresses_in_accounts_round_trip() {
        let a = Address::parse("account.prod.user.ci.deployer.access_key").unwrap();
        assert_eq!(a.account(), Some("prod"));
        assert_eq!(
            (a.user.as_str(), a.kind),
            ("ci.deployer", CredentialKind::AccessKey)
        );
        assert_eq!(a.to_string(), "account.prod.user.ci.deployer.access_key");
        let plain = Address::access_key("ci");
        assert_eq!(
            plain.to_string(),
            "user.ci.access_key",
            "today's addresses stay"
        );
        assert!(plain < a, "sets without an account sort first");
        for bad in [
            "account.user.ci.access_key",
            "account..user.ci.access_key",
            "account.pr od.user.ci.access_key",
            "account.prod.ci.access_key",
            "account.prod",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_is_open() {
        assert_eq!(KeyStatus::parse("Expired").to_string(), "Expired");
        assert_eq!(KeyStatus::parse("Active"), KeyStatus::Active);
    }
}
