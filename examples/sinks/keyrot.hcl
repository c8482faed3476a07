# Delivering a new key to where applications read it.
#
# A credential set may have several `deliver` blocks: every one must take the new key,
# or none does. keyrot first proves the new key works (STS GetCallerIdentity signed with
# it, retried while IAM propagates the key), then writes each sink in order and reads it
# back (files, Secrets Manager, SSM: compared by hash). If any sink fails, the sinks
# already written are put back as they were (files, profiles, Secrets Manager, SSM), the
# new key is deleted again, and the error names the sink that failed and any sink that
# could not be put back (a command that already ran, stdout).
#
# Formats (where a sink takes `format`):
#   json         {"Version": 1, "AccessKeyId": "...", "SecretAccessKey": "...",
#                 "UserName": "...", "CreateDate": "..."}   (also a credential_process output)
#   credentials  [default]
#                aws_access_key_id = ...
#                aws_secret_access_key = ...
#   env          AWS_ACCESS_KEY_ID=...
#                AWS_SECRET_ACCESS_KEY=...

user "app-backend" {
  access_key {
    max_age = "60d"

    # Secrets Manager: a new secret version becomes AWSCURRENT; the previous key stays
    # reachable as AWSPREVIOUS, so `keyrot rollback` can put it back. The secret is
    # created only if `create = true`; otherwise a missing secret is an error.
    deliver "secrets_manager" {
      secret_id = "prod/app-backend/aws-access-key"
      create    = true
      format    = "json"
    }

    # SSM Parameter Store: a SecureString, overwritten (kms_key_id optional; the
    # account's default aws/ssm key otherwise).
    deliver "ssm_parameter" {
      name       = "/prod/app-backend/aws-access-key"
      kms_key_id = "alias/app-secrets"
      format     = "json"
    }

    # A command: receives the credential on stdin (never in argv or the environment),
    # must exit 0 within `timeout` (default 60s). Its stderr is shown on failure, with the
    # secret masked. Use it to push the key to something keyrot has no sink for, or to
    # restart a service.
    deliver "exec" {
      command = ["./scripts/push-to-vault.sh", "secret/app-backend"]
      timeout = "30s"
      format  = "json"
      # The command starts with a clean environment: only PATH, HOME and LANG from
      # keyrot's (never its AWS credentials), plus these.
      env      = { VAULT_ADDR = "https://vault.internal:8200" }
      pass_env = ["VAULT_TOKEN"]
    }
  }
}

user "alice" {
  access_key {
    max_age = "90d"

    # One profile of a shared credentials file, updated in place: every other profile,
    # comment and line order is kept; the file is replaced atomically with mode 0600.
    # `~/` is your home directory. Any aws_session_token in that profile is removed.
    deliver "aws_profile" {
      file    = "~/.aws/credentials"
      profile = "alice-admin"
    }

    # A plain file (relative to the working directory), mode 0600, written atomically.
    deliver "file" {
      path   = "secrets/alice.env"
      format = "env"
    }

    # stdout only when you ask for it: the secret is printed once, in this format.
    # deliver "stdout" {
    #   format = "credentials"
    # }
  }
}
