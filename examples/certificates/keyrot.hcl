# Rotating X.509 signing certificates (IAM UploadSigningCertificate), the same way as
# access keys: upload a new one while the old one is Active, keep both for `overlap`,
# deactivate the old one (a checkpoint: `keyrot rollback` turns it back on), delete it
# after `inactive_for`. IAM allows two signing certificates per user; keyrot never plans
# a third.
#
# IAM records no last use for certificates, so there is no `unused_for` here: the
# overlap window is the whole gate. A certificate that would expire before `max_age`
# rotates it is rotated early, `overlap` before it expires, and the plan says why.
#
# `keyrot plan` shows each certificate's subject, expiry and SHA-256 fingerprint.

user "soap-client" {
  signing_certificate {
    max_age      = "180d"
    overlap      = "14d"
    inactive_for = "7d"

    # keyrot makes a fresh key pair and a self-signed certificate for every rotation.
    # algorithm: ecdsa-p256 (default), ecdsa-p384, rsa-2048, rsa-3072.
    generate {
      algorithm = "rsa-2048"
      validity  = "400d"
      subject   = "CN=soap-client,O=Example Corp"
    }

    # The private key exists only here and in memory: never in state, plans or logs.
    # format: pem (the certificate, then the private key) or json
    # ({"CertificateId", "CertificateBody", "PrivateKey", ...}).
    deliver "file" {
      path   = "secrets/soap-client.pem"
      format = "pem"
    }
  }
}

user "partner-gateway" {
  signing_certificate {
    max_age = "365d"

    # Bring your own: a certificate issued elsewhere. keyrot checks that the key matches
    # the certificate and that it is not expired before it plans an upload; replace the
    # files with the next certificate before the rotation falls due.
    certificate_file = "certs/partner-gateway.crt"
    private_key_file = "certs/partner-gateway.key"

    deliver "secrets_manager" {
      secret_id = "prod/partner-gateway/signing-certificate"
      create    = true
      format    = "json"
    }
  }
}
