# Several IAM users, each on its own schedule.
#
# The `defaults` block sets the windows every user gets unless its `access_key` block
# sets its own; a window set in neither place takes keyrot's built-in default
# (max_age "90d", overlap "7d", unused_for "3d", inactive_for "7d").
#
# Durations are strings: a number and a unit, s m h d w ("90d", "12h", "30m", "2w").
#
# Each user is addressed as user.NAME.access_key, e.g.
#   keyrot plan --target user.backup-job.access_key
#   keyrot apply --force-rotate user.ci-deployer.access_key    # rotate now, whatever the age
#
# Run keyrot from this directory: relative paths are taken from the working directory.

aws {
  region = "us-east-1"
}

defaults {
  # Rotate when the current key is older than this.
  max_age = "90d"

  # Least time both keys stay Active before the old one is deactivated.
  overlap = "7d"

  # The old key must show no use (GetAccessKeyLastUsed) for this long before it is
  # deactivated.
  unused_for = "3d"

  # Least time the old key stays Inactive before it is deleted.
  inactive_for = "7d"
}

# A CI deployer: short-lived keys. Its pipeline reads the file on every run, so a short
# overlap is enough.
user "ci-deployer" {
  access_key {
    max_age      = "30d" # rotate monthly
    overlap      = "2d"  # both keys Active for at least 2 days
    unused_for   = "1d"  # then the old key must have been idle for a day
    inactive_for = "3d"  # and stays Inactive 3 days before deletion

    deliver "file" {
      path   = "secrets/ci-deployer.json"
      format = "json"
    }
  }
}

# A nightly backup job: the defaults above (90d / 7d / 3d / 7d) suit it. The key goes to
# an env file (AWS_ACCESS_KEY_ID=... / AWS_SECRET_ACCESS_KEY=... lines) that the job's
# systemd unit loads with EnvironmentFile=.
user "backup-job" {
  access_key {
    deliver "file" {
      path   = "secrets/backup-job.env"
      format = "env"
    }
  }
}

# A legacy app that is redeployed rarely and by hand: keep both keys Active for a month,
# and only switch the old one off once it has been idle for two weeks, so a forgotten
# server still on the old key shows up in `keyrot plan` as "still in use" instead of
# breaking. Keep the old key Inactive a month before deleting it.
user "legacy-app" {
  access_key {
    max_age      = "180d"
    overlap      = "30d"
    unused_for   = "2w"
    inactive_for = "30d"

    # An ~/.aws/credentials-style file with a [default] profile.
    deliver "file" {
      path   = "secrets/legacy-app.credentials"
      format = "credentials"
    }

    # To also print each new key on apply (e.g. to pipe into a secret store), add:
    #   deliver "stdout" {
    #     format = "env"
    #   }
    # Every deliver block must succeed: if one fails, the files already written get
    # their previous content back and apply stops.
  }
}

# Tell people what each apply did, what failed and what waits (see README, "Notifications").
# A run with nothing to do sends nothing.
notify "webhook" {
  url    = "https://hooks.slack.com/services/T000/B000/XXXX" # Slack-compatible JSON
  events = ["applied", "failed", "rollback"]                 # default: all four, with "waiting"
}

notify "sns" {
  topic_arn = "arn:aws:sns:us-east-1:123456789012:keyrot" # needs sns:Publish
}
