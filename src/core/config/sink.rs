//! `deliver "KIND" { … }` blocks: where a new secret goes.

use super::attrs::duration_attr;
use super::types::{SecretFormat, Sink};
use super::walker::{FileCtx, Origin, Walker};
use crate::core::duration::Window;
use crate::core::model::CredentialKind;
use hcl::edit::structure::Block;
use hcl::edit::Span;
use std::path::PathBuf;

impl Walker {
    pub(super) fn sink(
        &mut self,
        ctx: &FileCtx,
        block: &Block,
        kind: &str,
        at: &Origin,
        credential: CredentialKind,
    ) -> Option<Sink> {
        let body = &block.body;
        let default_format = match credential {
            CredentialKind::AccessKey => SecretFormat::Json,
            CredentialKind::SigningCertificate => SecretFormat::Pem,
        };
        let format = |w: &mut Self| -> Option<SecretFormat> {
            let Some(attr) = body.get_attribute("format") else {
                return Some(default_format);
            };
            let text = w.string_attr(ctx, body, "format")?;
            let parsed = SecretFormat::parse(&text);
            let message = match parsed {
                None => format!("unknown format `{text}`"),
                Some(f) if !f.fits(credential) => {
                    format!("format `{text}` does not suit {}s", credential.noun())
                }
                Some(_) => return parsed,
            };
            let a_at = ctx.origin(attr.span());
            w.report(
                &a_at,
                message,
                format!("use one of: {}", SecretFormat::NAMES),
            );
            None
        };
        if kind == "aws_profile" && credential == CredentialKind::SigningCertificate {
            self.report(at, "an aws_profile holds access keys, not certificates", "deliver certificates to a `file`, `secrets_manager`, `ssm_parameter` or `exec` sink");
            return None;
        }
        match kind {
            "file" => {
                self.only(ctx, body, "`deliver \"file\"`", &["path", "format"], &[]);
                let path = self.string_attr(ctx, body, "path");
                if path.is_none() && body.get_attribute("path").is_none() {
                    self.report(
                        at,
                        "`deliver \"file\"` needs a `path`",
                        "add `path = \"secrets/NAME.json\"`",
                    );
                }
                let format = format(self)?;
                Some(Sink::File {
                    path: PathBuf::from(path?),
                    format,
                })
            }
            "stdout" => {
                self.only(ctx, body, "`deliver \"stdout\"`", &["format"], &[]);
                let format = format(self)?;
                Some(Sink::Stdout { format })
            }
            "secrets_manager" => {
                let place = "`deliver \"secrets_manager\"`";
                self.only(ctx, body, place, &["secret_id", "create", "format"], &[]);
                let secret_id =
                    self.required_string(ctx, body, at, place, "secret_id", "ci/deployer");
                let create = self.bool_attr(ctx, body, "create").unwrap_or(false);
                let format = format(self)?;
                Some(Sink::SecretsManager {
                    secret_id: secret_id?,
                    create,
                    format,
                })
            }
            "ssm_parameter" => {
                let place = "`deliver \"ssm_parameter\"`";
                self.only(ctx, body, place, &["name", "kms_key_id", "format"], &[]);
                let name = self.required_string(ctx, body, at, place, "name", "/ci/deployer");
                let kms_key_id = self.string_attr(ctx, body, "kms_key_id");
                let format = format(self)?;
                Some(Sink::SsmParameter {
                    name: name?,
                    kms_key_id,
                    format,
                })
            }
            "aws_profile" => {
                let place = "`deliver \"aws_profile\"`";
                self.only(ctx, body, place, &["file", "profile"], &[]);
                let file = self.required_string(ctx, body, at, place, "file", "~/.aws/credentials");
                let profile = self.required_string(ctx, body, at, place, "profile", "ci");
                Some(Sink::AwsProfile {
                    file: PathBuf::from(file?),
                    profile: profile?,
                })
            }
            "exec" => {
                let place = "`deliver \"exec\"`";
                self.only(ctx, body, place, &["command", "timeout", "format"], &[]);
                let command = self.string_list_attr(ctx, body, "command");
                if command.is_none() && body.get_attribute("command").is_none() {
                    self.report(
                        at,
                        format!("{place} needs a `command`"),
                        "add `command = [\"./reload.sh\"]`",
                    );
                }
                let timeout = match body.get_attribute("timeout") {
                    Some(attr) => duration_attr(ctx, attr)
                        .map_err(|d| self.diagnostics.push(d))
                        .ok(),
                    None => Some(Window::from_secs(60)),
                };
                let format = format(self)?;
                Some(Sink::Exec {
                    command: command?,
                    timeout: timeout?,
                    format,
                })
            }
            other => {
                self.report(
                    at,
                    format!("unknown sink `{other}`"),
                    "sinks are `file`, `stdout`, `secrets_manager`, `ssm_parameter`, `aws_profile` and `exec`",
                );
                None
            }
        }
    }
}
