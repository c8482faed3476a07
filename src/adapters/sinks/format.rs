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

/// Renders the credential in one format. The buffer is wiped when dropped.
pub fn render(format: SecretFormat, cred: &Credential) -> Zeroizing<String> {
    let id = &cred.key_id.0;
    let created = cred
        .created
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let json = |value: &dyn erased::Json| {
        let mut text = value.to_pretty();
        text.push('\n');
        text
    };
    Zeroizing::new(match (&cred.material, format) {
        (Material::AccessKey { secret }, SecretFormat::Credentials) => format!(
            "[default]\naws_access_key_id = {id}\naws_secret_access_key = {}\n",
            secret.expose_secret()
        ),
        (Material::AccessKey { secret }, SecretFormat::Env) => format!(
            "AWS_ACCESS_KEY_ID={id}\nAWS_SECRET_ACCESS_KEY={}\n",
            secret.expose_secret()
        ),
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
        ) => format!(
            "keyrot signing certificate {id} of user {}\n{}\n{}",
            cred.user,
            certificate_pem.trim_end(),
            private_key_pem.expose_secret()
        ),
    })
}

/// Serializes either JSON shape without a second, unzeroized copy of the secret.
mod erased {
    pub trait Json {
        fn to_pretty(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_pretty(&self) -> String {
            serde_json::to_string_pretty(self).unwrap_or_default()
        }
    }
}
