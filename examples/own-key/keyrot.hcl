# Rotating your own access key (the one you use on your laptop), in place.
#
# The `aws_profile` sink rewrites just the key lines of one profile in your shared
# credentials file: every other profile, comment and setting (region, output, ...) stays
# where it was, the file is replaced atomically and kept at mode 0600. Nothing else on
# your machine needs to change: the aws CLI, SDKs, Terraform and keyrot itself pick the
# new key up from the same profile on their next call.
#
# keyrot signs its own IAM calls with that same profile. On the run that creates the new
# key it still uses the old one (loaded when it started); from the next run on it uses the
# new one, so the old key stops being used and, after `unused_for`, is deactivated. While
# anything still signs with the old key, unused_for never runs out and the old key is
# (rightly) never deactivated: `keyrot plan` says when it was last used.

aws {
  # The profile keyrot signs its IAM calls with (from ~/.aws/config and
  # ~/.aws/credentials); `--profile` on the command line overrides it.
  profile = "alice"
}

user "alice" {
  access_key {
    # Rotate when the current key is older than this.
    max_age = "90d"

    # Least time both keys stay Active before the old one is deactivated.
    overlap = "1d"

    # The old key must show no use (GetAccessKeyLastUsed) for this long before it is
    # deactivated. IAM updates last-use data within hours, not instantly.
    unused_for = "1d"

    # Least time the old key stays Inactive before it is deleted; until then
    # `keyrot rollback user.alice.access_key` turns it back on.
    inactive_for = "7d"

    # The profile named above, updated in place with each new key.
    deliver "aws_profile" {
      file    = "~/.aws/credentials"
      profile = "alice"
    }

    # Optionally also keep a copy elsewhere, e.g. for another machine:
    # deliver "file" {
    #   path   = "secrets/alice.credentials"
    #   format = "credentials"
    # }
  }
}
