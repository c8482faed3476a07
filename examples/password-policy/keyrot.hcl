# The account password policy: how AWS makes IAM users rotate their passwords. It sits
# in the same file and the same plan as the keys.
#
# UpdateAccountPasswordPolicy replaces the WHOLE policy: any field left out here is reset
# to IAM's default. The plan shows every field before and after and marks those resets,
# so nothing changes by surprise. Values are checked against IAM's ranges by
# `keyrot validate`.
#
# Removing this block stops keyrot managing the policy; it never deletes it. To delete
# the live policy, say so: `password_policy { delete = true }`.

password_policy {
  minimum_password_length        = 14 # 6-128 (IAM's default: 6)
  require_symbols                = true
  require_numbers                = true
  require_uppercase_characters   = true
  require_lowercase_characters   = true
  allow_users_to_change_password = true
  max_password_age               = 90    # days, 1-1095 (CIS: at most 90)
  password_reuse_prevention      = 24    # 1-24 (CIS: 24)
  hard_expiry                    = false # true: expired users need an admin to reset
}

# `keyrot audit` reads the IAM credential report (regenerated at most every 4 hours) and
# lists account-wide findings: root access keys, active keys or certificates older than
# 90 days, keys unused for 45 days. `keyrot plan` lists them for the users declared here.
# Findings never change IAM.
