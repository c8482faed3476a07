# A fleet: CI users chosen by selectors in two accounts, reached by AssumeRole from the
# credentials keyrot runs with. New users are picked up by the next plan; a user who leaves
# a group (tag removed, user deleted) stops being managed and keeps its keys.

defaults {
  max_age      = "30d"
  overlap      = "2d"
  unused_for   = "1d"
  inactive_for = "3d"
}

account "prod" {
  role_arn    = "arn:aws:iam::222222222222:role/keyrot"
  external_id = "keyrot-prod" # optional; session_name and duration too
}

account "shared" {
  role_arn = "arn:aws:iam::333333333333:role/keyrot"
}

# Users of keyrot's own account: addresses stay user.NAME.access_key.
users "ci" {
  path_prefix = "/ci/"
  tags        = { rotate = "true" }
  names       = ["svc-*", "deploy-*"]
  exclude     = ["svc-legacy"]

  access_key {
    deliver "secrets_manager" {
      secret_id = "ci/${user}/aws"
      create    = true
    }
  }
}

# Users of prod: addresses account.prod.user.NAME.access_key. Their secrets go to prod's
# Secrets Manager, and a copy to the shared account.
users "prod-ci" {
  account     = "prod"
  path_prefix = "/ci/"

  access_key {
    deliver "secrets_manager" {
      secret_id = "${account}/ci/${user}"
      create    = true
    }

    deliver "secrets_manager" {
      secret_id = "prod/ci/${user}"
      create    = true
      account   = "shared"
    }
  }
}

# An explicit user block wins over any selector that would match the same user.
user "svc-legacy" {
  access_key {
    max_age = "90d"

    deliver "file" {
      path = "secrets/svc-legacy.json"
    }
  }
}
