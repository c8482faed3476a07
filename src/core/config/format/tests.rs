//! The canonical layout, through [`canonical`].

use super::*;
use proptest::prelude::*;

fn fmt(text: &str) -> String {
    canonical(&Source {
        name: "keyrot.hcl".into(),
        text: text.into(),
    })
    .unwrap_or_else(|d| panic!("{d}"))
}

/// Every layout mistake `fmt` fixes, with a comment in each place one can stand.
const MESSY: &str = "

# header comment, then two blank lines


aws {   # why this account
\tregion=\"us-east-1\"    # trailing, tab-indented
      profile    =     \"ops\"
  endpoint_url = \"http://127.0.0.1:5000\"   \n\n\n  max_attempts = 8
}
defaults { max_age = \"90d\" }
user \"alice\"   {
  access_key {
    max_age = \"30d\" # monthly
    overlap = \"2d\"        # short
    # a comment line ends the run
    unused_for = \"1d\"
    inactive_for = \"3d\"
    deliver \"exec\" {
      command = [
            \"./push.sh\",   # the script
        \"secret/alice\",
          ]
      timeout = \"30s\"
      env = { VAULT_ADDR = \"https://vault:8200\" }
      pass_env = [\"VAULT_TOKEN\"]
    }
    /* a block
         comment, kept as it is */
    deliver \"file\" {
path=\"secrets/alice.env\"
format=\"env\"
    }
    # before the closing brace


  }
}
password_policy {
  minimum_password_length = 14
}   # after a block
# the end
";

const MESSY_FORMATTED: &str = "# header comment, then two blank lines

aws {                        # why this account
  region       = \"us-east-1\" # trailing, tab-indented
  profile      = \"ops\"
  endpoint_url = \"http://127.0.0.1:5000\"

  max_attempts = 8
}

defaults { max_age = \"90d\" }

user \"alice\" {
  access_key {
    max_age = \"30d\" # monthly
    overlap = \"2d\"  # short
    # a comment line ends the run
    unused_for   = \"1d\"
    inactive_for = \"3d\"

    deliver \"exec\" {
      command = [
        \"./push.sh\", # the script
        \"secret/alice\",
      ]
      timeout  = \"30s\"
      env      = { VAULT_ADDR = \"https://vault:8200\" }
      pass_env = [\"VAULT_TOKEN\"]
    }

    /* a block
         comment, kept as it is */
    deliver \"file\" {
      path   = \"secrets/alice.env\"
      format = \"env\"
    }
    # before the closing brace
  }
}

password_policy {
  minimum_password_length = 14
} # after a block
# the end
";

#[test]
fn a_messy_config_gets_the_canonical_layout_and_keeps_every_comment() {
    let out = fmt(MESSY);
    assert_eq!(out, MESSY_FORMATTED, "got:\n{out}");
    for comment in scan::comments(MESSY) {
        let first = comment.lines().next().unwrap_or_default();
        assert!(out.contains(first), "lost {comment:?}");
    }
}

#[test]
fn formatting_is_idempotent() {
    assert_eq!(fmt(MESSY_FORMATTED), MESSY_FORMATTED);
    for (name, text) in EXAMPLES {
        let once = fmt(text);
        assert_eq!(fmt(&once), once, "{name}: a second pass changed it");
    }
}

#[test]
fn shipped_examples_are_already_formatted() {
    for (name, text) in EXAMPLES {
        assert_eq!(fmt(text), *text, "{name}: run `keyrot fmt -c {name}`");
    }
}

#[test]
fn a_value_opening_brackets_ends_the_run_and_is_not_aligned() {
    let out = fmt("a = 1\nbb = {\n  c=2\n  ddd = 3\n}\neeee = 4\nf = 5\n");
    assert_eq!(
        out,
        "a = 1\nbb = {\n  c   = 2\n  ddd = 3\n}\neeee = 4\nf    = 5\n"
    );
}

#[test]
fn heredocs_are_kept_byte_for_byte() {
    let text = "x {\ny = <<-EOT\n    indented  \n  EOT\n   z = <<EOT\n{ not code\nEOT\n}\n";
    let out = fmt(text);
    assert_eq!(
        out,
        "x {\n  y = <<-EOT\n    indented  \n  EOT\n  z = <<EOT\n{ not code\nEOT\n}\n"
    );
}

#[test]
fn crlf_empty_and_comment_only_files() {
    assert_eq!(fmt("a=1\r\nb = 2\r\n"), "a = 1\nb = 2\n");
    assert_eq!(fmt(""), "");
    assert_eq!(fmt("\n\n  \n"), "");
    assert_eq!(
        fmt("\n  # only\n\n\n# comments   \n\n"),
        "# only\n\n# comments\n"
    );
}

#[test]
fn inline_comments_stay_on_their_line() {
    let out = fmt("a /* k */ = /* v */ 1\nb \"l\" /* x */ {\n}\n");
    assert_eq!(out, "a /* k */ = /* v */ 1\n\nb \"l\" /* x */ {\n}\n");
}

#[test]
fn a_syntax_error_is_positioned_and_nothing_is_formatted() {
    let err = canonical(&Source {
        name: "conf/keyrot.hcl".into(),
        text: "aws {\n  region = \n}\n".into(),
    })
    .unwrap_err();
    assert_eq!(
        (err.file.as_str(), err.line),
        ("conf/keyrot.hcl", 2),
        "{err}"
    );
    assert!(err.message.starts_with("HCL syntax error"), "{err}");
}

/// Every example config: formatted as `keyrot fmt` leaves them, and read by the fast parser.
pub(in crate::core::config) const EXAMPLES: [(&str, &str); 8] = [
    (
        "examples/certificates",
        include_str!("../../../../examples/certificates/keyrot.hcl"),
    ),
    (
        "examples/confirm",
        include_str!("../../../../examples/confirm/keyrot.hcl"),
    ),
    (
        "examples/fleet",
        include_str!("../../../../examples/fleet/keyrot.hcl"),
    ),
    (
        "examples/one-ci-user",
        include_str!("../../../../examples/one-ci-user/keyrot.hcl"),
    ),
    (
        "examples/own-key",
        include_str!("../../../../examples/own-key/keyrot.hcl"),
    ),
    (
        "examples/password-policy",
        include_str!("../../../../examples/password-policy/keyrot.hcl"),
    ),
    (
        "examples/several-users",
        include_str!("../../../../examples/several-users/keyrot.hcl"),
    ),
    (
        "examples/sinks",
        include_str!("../../../../examples/sinks/keyrot.hcl"),
    ),
];

/// Layout-only damage to a formatted file: other indentation (spaces or tabs), spaces
/// around `=`, trailing whitespace, doubled blank lines.
fn damaged(text: &str, choices: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let pick = choices.get(i % choices.len().max(1)).copied().unwrap_or(0);
        let body = line.trim_start();
        let indent = ["", " ", "\t", "      "][usize::from(pick % 4)];
        let body = match body.split_once(" = ") {
            Some((k, v)) if pick & 4 != 0 && !k.contains(['"', '#']) => {
                format!("{}={v}", k.trim_end())
            }
            _ => body.to_string(),
        };
        let trailing = if pick & 8 != 0 { "  " } else { "" };
        out.push_str(&format!("{indent}{body}{trailing}\n"));
        if body.is_empty() && pick & 16 != 0 {
            out.push('\n');
        }
    }
    out
}

proptest! {
    #[test]
    fn layout_damage_is_undone(choices in proptest::collection::vec(any::<u8>(), 1..40)) {
        for (name, text) in EXAMPLES {
            let damaged = damaged(text, &choices);
            prop_assert_eq!(fmt(&damaged), text, "{}", name);
        }
    }
}
