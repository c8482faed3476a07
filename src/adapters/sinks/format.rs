//! The formats a credential is delivered in: JSON (shaped for `credential_process`),
//! a shared-credentials profile, env lines, PEM. Buffers are wiped when dropped.

use super::{Credential, Material};
use crate::core::config::SecretFormat;
use secrecy::ExposeSecret;
use serde::Serialize;
use zeroize::Zeroizing;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCredential<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    user_name: &'a str,
    create_date: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCertificate<'a> {
    certificate_id: &'a str,
    certificate_body: &'a str,
    private_key: &'a str,
    user_name: &'a str,
    upload_date: String,
}

/// Renders the credential in one format. The buffer is wiped when dropped, and it is
/// allocated once at its final size: a buffer that grew would leave the secret behind in
/// the freed smaller ones.
pub fn render(format: SecretFormat, cred: &Credential) -> Zeroizing<String> {
    let id = &cred.key_id.0;
    let created = cred
        .created
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match (&cred.material, format) {
        (Material::AccessKey { secret }, SecretFormat::Credentials) => exact(&[
            "[default]\naws_access_key_id = ",
            id,
            "\naws_secret_access_key = ",
            secret.expose_secret(),
            "\n",
        ]),
        (Material::AccessKey { secret }, SecretFormat::Env) => exact(&[
            "AWS_ACCESS_KEY_ID=",
            id,
            "\nAWS_SECRET_ACCESS_KEY=",
            secret.expose_secret(),
            "\n",
        ]),
        // Shaped for `credential_process` as well as for reading by hand.
        (Material::AccessKey { secret }, _) => json(&JsonCredential {
            version: 1,
            access_key_id: id,
            secret_access_key: secret.expose_secret(),
            user_name: cred.user,
            create_date: created,
        }),
        (
            Material::Certificate {
                certificate_pem,
                private_key_pem,
            },
            SecretFormat::Json,
        ) => json(&JsonCertificate {
            certificate_id: id,
            certificate_body: certificate_pem,
            private_key: private_key_pem.expose_secret(),
            user_name: cred.user,
            upload_date: created,
        }),
        // PEM allows text outside its blocks: the id line lets recovery recognise it.
        (
            Material::Certificate {
                certificate_pem,
                private_key_pem,
            },
            _,
        ) => exact(&[
            "keyrot signing certificate ",
            id,
            " of user ",
            cred.user,
            "\n",
            certificate_pem.trim_end(),
            "\n",
            private_key_pem.expose_secret(),
        ]),
    }
}

/// The concatenation of `parts` in one allocation of exactly its length.
pub(super) fn exact(parts: &[&str]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(parts.iter().map(|p| p.len()).sum()));
    for p in parts {
        out.push_str(p);
    }
    out
}

/// Pretty JSON and a newline, measured first and then written into a buffer of exactly
/// that size, so serde never grows (and leaves behind) a copy of the secret.
fn json<T: Serialize>(value: &T) -> Zeroizing<String> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serializing plain structs of strings cannot fail.
    let _ = serde_json::to_writer_pretty(&mut count, value);
    let mut bytes = Zeroizing::new(Vec::with_capacity(count.0 + 1));
    let _ = serde_json::to_writer_pretty(&mut *bytes, value);
    bytes.push(b'\n');
    // JSON is UTF-8; moving the bytes into the String keeps the one allocation.
    let text = String::from_utf8(std::mem::take(&mut *bytes)).unwrap_or_default();
    Zeroizing::new(text)
}
