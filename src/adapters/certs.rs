//! X.509 signing certificates: generating a key pair with a self-signed certificate,
//! reading what a certificate says, and checking a bring-your-own pair.

use crate::core::config::KeyAlgorithm;
use crate::core::model::{CertInfo, Time};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// A new certificate and the only copy of its private key.
pub struct NewCertificate {
    pub certificate_pem: String,
    pub private_key_pem: SecretString,
}

impl std::fmt::Debug for NewCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCertificate")
            .field("certificate_pem", &self.certificate_pem)
            .field("private_key_pem", &"[REDACTED]")
            .finish()
    }
}

/// Reads subject, expiry and SHA-256 fingerprint from a PEM certificate.
pub fn inspect(pem: &str) -> Result<CertInfo, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let not_after = chrono::DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
        .ok_or("certificate expiry out of range")?;
    let fingerprint = Sha256::digest(&pem.contents)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        not_after,
        fingerprint,
    })
}

/// The certificate's public key (SubjectPublicKeyInfo, DER).
fn public_key_der(pem: &str) -> Result<Vec<u8>, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    Ok(cert.public_key().raw.to_vec())
}

/// Checks a bring-your-own pair before anything is uploaded: the key matches the
/// certificate, and the certificate is valid at `now`.
pub fn check_pair(
    certificate_pem: &str,
    private_key_pem: &str,
    now: Time,
) -> Result<CertInfo, String> {
    let info = inspect(certificate_pem)?;
    let key = rcgen::KeyPair::from_pem(private_key_pem).map_err(|_| {
        "the private key file holds no private key keyrot can read (PEM, PKCS#8)".to_string()
    })?;
    if rcgen::PublicKeyData::subject_public_key_info(&key) != public_key_der(certificate_pem)? {
        return Err("the private key does not belong to the certificate".into());
    }
    if info.not_after <= now {
        return Err(format!(
            "the certificate expired at {}",
            crate::core::model::timestamp(info.not_after)
        ));
    }
    Ok(info)
}

/// A fresh key pair and a self-signed certificate valid from yesterday for `validity_days`.
pub fn generate(
    algorithm: KeyAlgorithm,
    subject: &[(String, String)],
    default_cn: &str,
    validity_days: u64,
    now: Time,
) -> Result<NewCertificate, String> {
    use chrono::Datelike;
    let alg = match algorithm {
        KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => &rcgen::PKCS_RSA_SHA256,
    };
    let key = match algorithm {
        KeyAlgorithm::Rsa2048 => rcgen::KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048),
        KeyAlgorithm::Rsa3072 => rcgen::KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_3072),
        _ => rcgen::KeyPair::generate_for(alg),
    }
    .map_err(|e| format!("cannot generate a key pair: {e}"))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| format!("cannot build the certificate: {e}"))?;
    let mut dn = rcgen::DistinguishedName::new();
    if subject.is_empty() {
        dn.push(rcgen::DnType::CommonName, default_cn);
    }
    for (k, v) in subject {
        let t = match k.to_ascii_uppercase().as_str() {
            "CN" => rcgen::DnType::CommonName,
            "O" => rcgen::DnType::OrganizationName,
            "OU" => rcgen::DnType::OrganizationalUnitName,
            "C" => rcgen::DnType::CountryName,
            "ST" => rcgen::DnType::StateOrProvinceName,
            "L" => rcgen::DnType::LocalityName,
            other => {
                return Err(format!(
                    "subject attribute `{other}` is not supported (CN, O, OU, C, ST, L)"
                ))
            }
        };
        dn.push(t, v.as_str());
    }
    params.distinguished_name = dn;
    let day = |t: Time| rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8);
    params.not_before = day(now - chrono::Duration::days(1));
    // Dates are whole days: end on the day after, so it lasts at least `validity_days`.
    params.not_after = day(now + chrono::Duration::days(validity_days as i64 + 1));
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot sign the certificate: {e}"))?;
    // Copied into an exact-size secret, and rcgen's own string wiped (converting the String
    // itself could reallocate and leave the old buffer unwiped).
    let mut pem = key.serialize_pem();
    let private_key_pem = SecretString::from(pem.as_str());
    pem.zeroize();
    Ok(NewCertificate {
        certificate_pem: cert.pem(),
        private_key_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn now() -> Time {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn generated_pairs_match_and_say_what_they_are() {
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Rsa2048,
        ] {
            let subject = vec![
                ("CN".to_string(), "ci".to_string()),
                ("O".to_string(), "Example".to_string()),
            ];
            let new = generate(alg, &subject, "unused", 30, now()).unwrap();
            let info = check_pair(
                &new.certificate_pem,
                new.private_key_pem.expose_secret(),
                now(),
            )
            .unwrap();
            assert!(info.subject.contains("CN=ci"), "{}", info.subject);
            assert_eq!(info.not_after.date_naive().to_string(), "2026-07-02");
            assert_eq!(info.fingerprint.len(), 64);
            assert!(!format!("{new:?}").contains("PRIVATE KEY"));
        }
    }

    #[test]
    fn mismatched_expired_and_garbage_pairs_are_refused() {
        let a = generate(KeyAlgorithm::EcdsaP256, &[], "a", 30, now()).unwrap();
        let b = generate(KeyAlgorithm::EcdsaP256, &[], "b", 30, now()).unwrap();
        let err =
            check_pair(&a.certificate_pem, b.private_key_pem.expose_secret(), now()).unwrap_err();
        assert!(err.contains("does not belong"), "{err}");
        let later = now() + chrono::Duration::days(40);
        let err =
            check_pair(&a.certificate_pem, a.private_key_pem.expose_secret(), later).unwrap_err();
        assert!(err.contains("expired"), "{err}");
        assert!(
            check_pair("garbage", a.private_key_pem.expose_secret(), now())
                .unwrap_err()
                .contains("PEM")
        );
        assert!(check_pair(&a.certificate_pem, "garbage", now()).is_err());
    }
}
