# Rotating your own access key (the one you use on your laptop) into a local file.
#
# The new key is written, mode 0600, as an ~/.aws/credentials-style file holding one
# [default] profile:
#
#   [default]
#   aws_access_key_id = AKIA...
#   aws_secret_access_key = ...
#
# Any AWS tool (the aws CLI, SDKs, Terraform, keyrot itself) uses it when you point
# AWS_SHARED_CREDENTIALS_FILE at it:
#
#   export AWS_SHARED_CREDENTIALS_FILE="$PWD/secrets/alice.credentials"
#   export AWS_PROFILE=default
#   aws sts get-caller-identity
#
# The first run authenticates with the profile named in the `aws` block below (your
# current key). Once `keyrot apply` has created and written the new key, switch to it as
# above, keyrot included (`keyrot --profile default ...` with AWS_SHARED_CREDENTIALS_FILE
# set): every call made with the old key counts as use, so while anything - keyrot too -
# still signs with it, unused_for never runs out and the old key is (rightly) never
# deactivated. Run keyrot from this directory: relative paths are from the working
# directory.

aws {
  # The profile keyrot signs its IAM calls with (from ~/.aws/config and
  # ~/.aws/credentials); `--profile` on the command line overrides it.
  profile = "alice"
}

user "alice" {
  access_key {
    # Rotate when the current key is older than this.
    max_age = "90d"

    # Least time both keys stay Active before the old one is deactivated: the time you
    # have to switch your shell and tools to the new file.
    overlap = "1d"

    # The old key must show no use (GetAccessKeyLastUsed) for this long before it is
    # deactivated. IAM updates last-use data within hours, not instantly.
    unused_for = "1d"

    # Least time the old key stays Inactive before it is deleted; until then
    # `keyrot rollback user.alice.access_key` turns it back on.
    inactive_for = "7d"

    deliver "file" {
      path   = "secrets/alice.credentials"
      format = "credentials"
    }
  }
}
