# One CI user whose access key keyrot rotates and writes to a JSON file.
#
#   keyrot plan                  # what would change, and why
#   keyrot apply                 # do it (asks first; --auto-approve in a scheduled job)
#   keyrot status                # where each key is in its rotation
#
# Run keyrot from this directory: relative paths (this file, state/keyrot.json and the
# `deliver` path below) are taken from the working directory.
#
# A rotation takes a few runs, at most one step per run:
#   1. the current key is older than max_age     -> create a new key, deliver it
#   2. overlap has passed and the old key has
#      been unused for unused_for                -> deactivate the old key (a checkpoint:
#                                                   `keyrot rollback` turns it back on)
#   3. the old key has been Inactive for
#      inactive_for                              -> delete it
# Run it daily (cron, a scheduled CI job); runs with nothing due change nothing.
#
# Durations are strings: a number and a unit, s m h d w ("90d", "12h", "30m", "2w"),
# and parts can be chained ("1d12h").

user "ci-deployer" {
  access_key {
    # Rotate when the current key is older than this.
    max_age = "90d"

    # Least time both keys stay Active before the old one is deactivated: the time
    # your pipeline has to pick up the new key from the file below.
    overlap = "7d"

    # The old key must show no use (IAM's GetAccessKeyLastUsed) for this long before it
    # is deactivated. A key still in use is never switched off; keyrot waits and says so.
    unused_for = "3d"

    # Least time the old key stays Inactive before it is deleted. Until then a
    # `keyrot rollback user.ci-deployer.access_key` brings it back in seconds.
    inactive_for = "7d"

    # Where each new key goes: written atomically, mode 0600, as
    #   {"Version": 1, "AccessKeyId": "...", "SecretAccessKey": "...", ...}
    # which also suits `credential_process = cat /path/to/ci-deployer.json`.
    # Keep secrets/ out of version control.
    deliver "file" {
      path   = "secrets/ci-deployer.json"
      format = "json"
    }
  }
}
