# Step 4 of AWS's rotation, done by keyrot: the old key waits until the new one is seen in
# use, then checks confirm the applications still work before the old key is deleted. A
# failing check reactivates the old key in the same run and holds the rotation; `apply`
# exits 8 and names the check (later runs exit 7 until `keyrot resume`).

defaults {
  max_age      = "90d"
  overlap      = "7d"
  unused_for   = "3d"
  inactive_for = "7d"
}

user "orders-api" {
  access_key {
    # Deactivate the old key only once IAM shows the new key used since its delivery.
    require_new_key_use = true

    deliver "secrets_manager" {
      secret_id = "prod/orders-api/aws" # a revert puts AWSPREVIOUS back
    }

    # A command, no shell, in a clean environment (no AWS credentials); non-zero = failed.
    confirm "exec" {
      command  = ["./scripts/smoke-test", "--env", "prod"]
      timeout  = "2m"
      pass_env = ["SMOKE_TARGET"]
    }

    # A GET that must answer this status: https, or http to 127.0.0.1 / localhost.
    confirm "http" {
      url    = "https://orders.internal/health"
      status = 200
    }

    on_confirm_failure = "rollback" # or "hold": hold, leaving the old key Inactive
  }
}
