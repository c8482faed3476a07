//! Input strategies for the fuzzers: arbitrary text, structured edits of a valid seed, and
//! semantic edits of a JSON document.

use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Value};

#[rustfmt::skip]
pub(super) const HCL_TOKENS: &[&str] = &[
    " ", " ", "\n", "\n", "\t", "\r\n", "\r", "aws", "defaults", "user", "access_key",
    "deliver", "\"file\"", "\"stdout\"", "\"a\"", "\"\"", "path", "format", "max_age",
    "overlap", "unused_for", "inactive_for", "region", "max_attempts", "timeout",
    "retry_mode", "\"90d\"", "\"0s\"", "\"json\"", "=", "{", "}", "[", "]", "(", ")", ",",
    ":", "?", ".", "...", "*", "!", "-", "=>", "==", "&&", "\"", "\"${", "%{", "}\"", "${",
    "\\", "\\u{", "<<EOF\n", "<<-EOF\n", "EOF\n", "#", "//", "/*", "*/", "0", "-1", "8",
    "1e400", "0x10", "18446744073709551616", "true", "null", "for", "in", "if", "endif",
    "x", "é", "\u{1F600}", "\u{0}", "\u{FEFF}", "\u{202E}", "\u{2028}",
];

#[rustfmt::skip]
pub(super) const JSON_TOKENS: &[&str] = &[
    " ", "\n", "{", "}", "[", "]", ":", ",", "\"", "\"format_version\"", "1", "\"1\"", "2",
    "\"kind\"", "\"keyrot-saved-plan\"", "\"lineage\"", "\"serial\"", "\"credential_sets\"",
    "\"user.a.access_key\"", "\"phase\"", "\"steady\"", "\"overlap\"", "\"held\"",
    "\"current\"", "\"previous\"", "\"id\"", "\"status\"", "\"Active\"", "\"born\"",
    "\"2026-01-01T00:00:00Z\"", "\"actions\"", "\"action\"", "\"key_id\"", "\"iam_facts\"",
    "\"last_used\"", "\"never\"", "null", "true", "false", "-0", "1e999", "-1",
    "18446744073709551616", "4294967296", "\"\\ud800\"", "\"\\u0000\"", "\\", "é",
];

/// Replacements for whole words (identifiers, numbers, keywords) of an HCL text.
#[rustfmt::skip]
const HCL_WORDS: &[&str] = &[
    "aws", "defaults", "user", "access_key", "deliver", "path", "format", "max_age",
    "overlap", "unused_for", "inactive_for", "region", "profile", "endpoint_url",
    "max_attempts", "timeout", "retry_mode", "bogus", "true", "null", "0", "1", "20", "21",
    "-1", "8.5", "1e400", "18446744073709551616", "x.y", "a_b", "é",
];

/// Replacements for the contents of HCL strings.
#[rustfmt::skip]
const HCL_STRINGS: &[&str] = &[
    "", "90d", "0s", "0d", "1s", "-1d", "1.5d", "90", "d", "99999999999999999999d",
    "18446744073709551615s", "2w", "12h", "30m", "90x", "json", "yaml", "credentials",
    "env", "file", "stdout", "s3", "standard", "adaptive", "http://", "https://iam.example",
    "ftp://x", "${x}", "%{ if x }y%{ endif }", "$${x}", "\\n", "\\u00e9", "\\", "bad name!",
    "a-64-characters-long-user-name-which-is-longer-than-iam-allows-x", "../../etc/passwd",
    "é\u{1F600}", "\u{0}",
];

/// Replacements for the contents of JSON strings (values and field names alike).
#[rustfmt::skip]
const JSON_STRINGS: &[&str] = &[
    "", "1", "2", "steady", "overlap", "inactive", "held", "empty", "Active", "Inactive",
    "Expired", "never", "current", "previous", "import", "refresh", "untrack", "forget",
    "create", "deactivate", "reactivate", "delete", "explode", "rotate", "blocked",
    "resume", "status", "deleted", "appeared", "keyrot-saved-plan", "user.a.access_key",
    "user..access_key", "user.a.password", "2026-01-01T00:00:00Z", "2026-02-30T00:00:00Z",
    "2026-06-30T23:59:60Z", "+275760-09-13T00:00:00Z", "0000-01-01T00:00:00Z",
    "+262142-12-31T23:59:59Z", "-262143-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
    "2026-01-01T00:00:00.123456789+14:00", "AKIAOLD0000000000001", "bogus", "phase", "id",
    "\\u0000", "\\ud800", "\\\"",
];

/// Replacements for whole words of a JSON text (numbers, literals, field names unquoted).
#[rustfmt::skip]
const JSON_WORDS: &[&str] = &[
    "0", "1", "2", "-1", "-0", "1.5", "1e999", "4294967296", "18446744073709551615",
    "18446744073709551616", "true", "false", "null", "NaN", "Infinity", "phase",
];

/// The vocabulary mutations draw on, per input language.
#[derive(Clone, Copy)]
pub(super) struct Dict {
    tokens: &'static [&'static str],
    words: &'static [&'static str],
    strings: &'static [&'static str],
}

pub(super) const HCL: Dict = Dict {
    tokens: HCL_TOKENS,
    words: HCL_WORDS,
    strings: HCL_STRINGS,
};

pub(super) const JSON: Dict = Dict {
    tokens: JSON_TOKENS,
    words: JSON_WORDS,
    strings: JSON_STRINGS,
};

/// Arbitrary text: any Unicode, printable ASCII, lossy-decoded random bytes, token soup.
pub(super) fn random_text(tokens: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        any::<String>(),
        "[ -~\t\n\r]{0,400}",
        proptest::collection::vec(any::<u8>(), 0..400)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        proptest::collection::vec(select(tokens), 0..120).prop_map(|t| t.concat()),
    ]
    .boxed()
}

/// One structured edit of a text; positions are clamped down to char boundaries.
#[derive(Clone, Debug)]
enum Edit {
    Truncate(Index),
    Delete(Index, Index),
    Duplicate(Index, Index, Index),
    Swap([Index; 4]),
    Insert(Index, String),
    Token(Index, &'static str),
    Replace(Index, char),
    BitFlip(Index, u8),
    Nest(Index, usize, usize, bool),
    /// Replace the n-th word (a run of letters, digits and `_`).
    Word(Index, &'static str),
    /// Replace the contents of the n-th `"…"` string.
    Quoted(Index, &'static str),
}

pub(super) const NESTS: &[(&str, &str)] = &[
    ("[", "]"),
    ("{", "}"),
    ("(", ")"),
    ("{\"a\":", "}"),
    ("\"${", "}\""),
    ("b {\n", "}\n"),
];

fn edit(dict: Dict) -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![
        any::<char>(),
        select(&['{', '}', '[', ']', '"', '=', '\n', '\\', '$', '#', '0', '-', '\0', ','][..]),
    ];
    prop_oneof![
        4 => (any::<Index>(), select(dict.words)).prop_map(|(a, w)| Edit::Word(a, w)),
        4 => (any::<Index>(), select(dict.strings)).prop_map(|(a, w)| Edit::Quoted(a, w)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Delete(a, b)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(a, b, c)| Edit::Duplicate(a, b, c)),
        1 => any::<[Index; 4]>().prop_map(Edit::Swap),
        1 => (any::<Index>(), "\\PC{0,8}|[\\x00-\\x1f]{1,3}")
            .prop_map(|(a, s)| Edit::Insert(a, s)),
        1 => (any::<Index>(), select(dict.tokens)).prop_map(|(a, t)| Edit::Token(a, t)),
        1 => (any::<Index>(), ch).prop_map(|(a, c)| Edit::Replace(a, c)),
        1 => (any::<Index>(), 0u8..21).prop_map(|(a, bit)| Edit::BitFlip(a, bit)),
        1 => (
            any::<Index>(),
            0..NESTS.len(),
            prop_oneof![1usize..80, 80usize..3000],
            any::<bool>()
        )
            .prop_map(|(a, kind, depth, closed)| Edit::Nest(a, kind, depth, closed)),
    ]
}

/// The byte offset `i` picks in `s` (0..=len), moved back to a char boundary.
fn at(s: &str, i: &Index) -> usize {
    let mut p = i.index(s.len() + 1);
    while !s.is_char_boundary(p) {
        p -= 1;
    }
    p
}

/// Byte spans of the words of `s`.
fn words(s: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices().chain([(s.len(), ' ')]) {
        match (start, c.is_alphanumeric() || c == '_') {
            (None, true) => start = Some(i),
            (Some(st), false) => {
                spans.push((st, i));
                start = None;
            }
            _ => {}
        }
    }
    spans
}

/// Byte spans of the contents of `"…"` strings of `s` (escapes not considered).
fn quoted(s: &str) -> Vec<(usize, usize)> {
    let quotes: Vec<usize> = s.match_indices('"').map(|(i, _)| i).collect();
    quotes.chunks_exact(2).map(|q| (q[0] + 1, q[1])).collect()
}

/// `s` with the `n`-th of `spans` replaced by `with` (unchanged when there is none).
fn replace_span(s: &str, spans: &[(usize, usize)], n: &Index, with: &str) -> String {
    if spans.is_empty() {
        return s.to_string();
    }
    let (a, b) = spans[n.index(spans.len())];
    format!("{}{with}{}", &s[..a], &s[b..])
}

fn span(s: &str, a: &Index, b: &Index) -> (usize, usize) {
    let (a, b) = (at(s, a), at(s, b));
    (a.min(b), a.max(b))
}

fn apply_edit(s: &str, e: &Edit) -> String {
    match e {
        Edit::Truncate(i) => s[..at(s, i)].to_string(),
        Edit::Delete(a, b) => {
            let (a, b) = span(s, a, b);
            format!("{}{}", &s[..a], &s[b..])
        }
        Edit::Duplicate(a, b, to) => {
            let (a, b) = span(s, a, b);
            let to = at(s, to);
            format!("{}{}{}", &s[..to], &s[a..b], &s[to..])
        }
        Edit::Swap(idx) => {
            let mut p: Vec<usize> = idx.iter().map(|i| at(s, i)).collect();
            p.sort_unstable();
            format!(
                "{}{}{}{}{}",
                &s[..p[0]],
                &s[p[2]..p[3]],
                &s[p[1]..p[2]],
                &s[p[0]..p[1]],
                &s[p[3]..]
            )
        }
        Edit::Insert(i, text) => {
            let i = at(s, i);
            format!("{}{text}{}", &s[..i], &s[i..])
        }
        Edit::Token(i, tok) => {
            let i = at(s, i);
            format!("{}{tok}{}", &s[..i], &s[i..])
        }
        Edit::Replace(..) | Edit::BitFlip(..) if s.is_empty() => s.to_string(),
        Edit::Replace(i, c) => {
            let i = at(s, i).min(s.len() - 1);
            let i = (0..=i).rev().find(|&j| s.is_char_boundary(j)).unwrap_or(0);
            let old = s[i..].chars().next().map_or(0, char::len_utf8);
            format!("{}{c}{}", &s[..i], &s[i + old..])
        }
        Edit::BitFlip(i, bit) => {
            let i = at(s, i).min(s.len() - 1);
            let i = (0..=i).rev().find(|&j| s.is_char_boundary(j)).unwrap_or(0);
            let old = s[i..].chars().next().unwrap_or('\0');
            let new = char::from_u32(old as u32 ^ (1 << bit)).unwrap_or('\u{FFFD}');
            format!("{}{new}{}", &s[..i], &s[i + old.len_utf8()..])
        }
        Edit::Word(n, with) => replace_span(s, &words(s), n, with),
        Edit::Quoted(n, with) => replace_span(s, &quoted(s), n, with),
        Edit::Nest(i, kind, depth, closed) => {
            let i = at(s, i);
            let (open, close) = NESTS[*kind];
            let tail = if *closed {
                close.repeat(*depth)
            } else {
                String::new()
            };
            format!("{}{}{tail}{}", &s[..i], open.repeat(*depth), &s[i..])
        }
    }
}

/// A valid seed with one to four edits applied, in order.
/// One edit mostly, sometimes a few.
fn edits(dict: Dict) -> impl Strategy<Value = Vec<Edit>> {
    prop_oneof![
        3 => proptest::collection::vec(edit(dict), 1..2),
        1 => proptest::collection::vec(edit(dict), 2..6),
    ]
}

pub(super) fn mutated(seeds: Vec<String>, dict: Dict) -> impl Strategy<Value = String> {
    (select(seeds), edits(dict))
        .prop_map(|(seed, edits)| edits.iter().fold(seed, |s, e| apply_edit(&s, e)))
}

/// Semantic edits of a JSON document: the text stays JSON so the checks behind the syntax
/// (versions, kinds, phases, roles, consistency) are reached.
#[derive(Clone, Debug)]
enum JsonEdit {
    /// Replace the n-th node (pre-order) with a value.
    Replace(Index, Value),
    /// Remove a member of the n-th node (an object's field or an array's element).
    Remove(Index, Index),
    /// Add a field to the n-th node if it is an object.
    Add(Index, &'static str, Value),
    /// Wrap the n-th node into an array.
    Wrap(Index),
}

#[rustfmt::skip]
const FIELD_NAMES: &[&str] = &[
    "bogus", "format_version", "kind", "lineage", "serial", "credential_sets",
    "applied_plans", "phase", "held", "current", "previous", "id", "status", "born",
    "status_since", "plan_id", "created", "now", "refresh_only", "prior_state",
    "config_digest", "iam_facts", "address", "keys", "drift", "actions", "waits", "key_id",
    "role", "change", "from", "to", "action", "hold", "frees_slot", "reason_code", "reason",
    "step", "due", "last_used", "user.a.access_key", "password_policy",
];

/// Strings a JSON node may be replaced with.
#[rustfmt::skip]
const WEIRD_STRINGS: &[&str] = &[
    "", "steady", "overlap", "inactive", "held", "empty", "Active", "Inactive", "Expired",
    "never", "current", "previous", "import", "refresh", "untrack", "forget", "create",
    "deactivate", "reactivate", "delete", "explode", "rotate", "blocked", "resume",
    "status", "deleted", "appeared", "1", "2", "0", "99999", "keyrot-saved-plan",
    "keyrot-state", "user.a.access_key", "user..access_key", "user.a.password", "user.",
    "2026-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-06-30T23:59:60Z",
    "+275760-09-13T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
    "+262142-12-31T23:59:59Z", "-262143-01-01T00:00:00Z",
    "1970-01-01T00:00:00+14:00", "yesterday", "AKIAOLD0000000000001",
    "AKIANEW0000000000002", "\u{0}", "\u{FEFF}", "é\u{1F600}",
];

fn weird_value() -> impl Strategy<Value = Value> {
    let strings = select(WEIRD_STRINGS);
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        select(&[0u64, 1, 2, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX][..])
            .prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        strings.prop_map(|s| json!(s)),
        "\\PC{0,20}".prop_map(|s| json!(s)),
        Just(json!([])),
        Just(json!({})),
        Just(json!([null, 1, "x"])),
        Just(json!({"id": "AKIAX", "status": "Active"})),
    ]
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        3 => (any::<Index>(), weird_value()).prop_map(|(n, v)| JsonEdit::Replace(n, v)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(n, m)| JsonEdit::Remove(n, m)),
        2 => (any::<Index>(), select(FIELD_NAMES), weird_value())
            .prop_map(|(n, k, v)| JsonEdit::Add(n, k, v)),
        1 => any::<Index>().prop_map(JsonEdit::Wrap),
    ]
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// The n-th node of `v` in pre-order.
fn nth_node(v: &mut Value, n: usize) -> Option<&mut Value> {
    fn walk<'a>(v: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
        if *n == 0 {
            return Some(v);
        }
        *n -= 1;
        match v {
            Value::Array(a) => a.iter_mut().find_map(|c| walk(c, n)),
            Value::Object(o) => o.values_mut().find_map(|c| walk(c, n)),
            _ => None,
        }
    }
    let mut n = n;
    walk(v, &mut n)
}

fn apply_json_edit(doc: &mut Value, e: &JsonEdit) {
    let total = count_nodes(doc);
    let pick = |i: &Index| i.index(total);
    match e {
        JsonEdit::Replace(i, value) => {
            if let Some(v) = nth_node(doc, pick(i)) {
                *v = value.clone();
            }
        }
        JsonEdit::Remove(i, m) => match nth_node(doc, pick(i)) {
            Some(Value::Array(a)) if !a.is_empty() => {
                a.remove(m.index(a.len()));
            }
            Some(Value::Object(o)) if !o.is_empty() => {
                let k = o.keys().nth(m.index(o.len())).cloned().unwrap_or_default();
                o.remove(&k);
            }
            _ => {}
        },
        JsonEdit::Add(i, name, value) => {
            if let Some(Value::Object(o)) = nth_node(doc, pick(i)) {
                o.insert(name.to_string(), value.clone());
            }
        }
        JsonEdit::Wrap(i) => {
            if let Some(v) = nth_node(doc, pick(i)) {
                *v = Value::Array(vec![v.take()]);
            }
        }
    }
}

/// A valid JSON seed with semantic edits, then maybe a few text edits on top.
pub(super) fn json_mutated(seeds: Vec<String>) -> impl Strategy<Value = String> {
    (
        select(seeds),
        proptest::collection::vec(json_edit(), 1..4),
        any::<bool>(),
        prop_oneof![3 => Just(Vec::new()), 1 => edits(JSON)],
    )
        .prop_map(|(seed, json_edits, pretty, edits)| {
            let mut doc: Value = serde_json::from_str(&seed).expect("seed is JSON");
            for e in &json_edits {
                apply_json_edit(&mut doc, e);
            }
            let text = if pretty {
                serde_json::to_string_pretty(&doc)
            } else {
                serde_json::to_string(&doc)
            }
            .expect("serialize");
            edits.iter().fold(text, |s, e| apply_edit(&s, e))
        })
}
