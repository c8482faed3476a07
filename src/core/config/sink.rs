//! `deliver "KIND" { … }` blocks: where a new secret goes.

use super::attrs::duration_attr;
use super::syntax::Span;
use super::syntax::{Block, Body};
use super::types::{ExecEnv, SecretFormat, Sink};
use super::walker::{FileCtx, Origin, Walker};
use crate::core::duration::Window;
use crate::core::model::CredentialKind;
use std::path::PathBuf;

/// A `deliver` block being read: where it stands and which credential it serves.
struct Deliver<'a> {
    ctx: &'a FileCtx<'a>,
    body: &'a Body<'a>,
    at: &'a Origin,
    credential: CredentialKind,
}

impl Walker {
    pub(super) fn sink(
        &mut self,
        ctx: &FileCtx,
        block: &Block,
        kind: &str,
        at: &Origin,
        credential: CredentialKind,
    ) -> Option<Sink> {
        let d = Deliver {
            ctx,
            body: &block.body,
            at,
            credential,
        };
        if kind == "aws_profile" && credential == CredentialKind::SigningCertificate {
            self.report(at, "an aws_profile holds access keys, not certificates", "deliver certificates to a `file`, `secrets_manager`, `ssm_parameter` or `exec` sink");
            return None;
        }
        let sink = match kind {
            "file" => self.file_sink(&d),
            "stdout" => self.stdout_sink(&d),
            "secrets_manager" => self.secrets_manager_sink(&d),
            "ssm_parameter" => self.ssm_parameter_sink(&d),
            "aws_profile" => self.aws_profile_sink(&d),
            "exec" => self.exec_sink(&d),
            other => {
                self.report(
                    at,
                    format!("unknown sink `{other}`"),
                    "sinks are `file`, `stdout`, `secrets_manager`, `ssm_parameter`, `aws_profile` and `exec`",
                );
                None
            }
        }?;
        self.check_shared(&sink, at);
        Some(sink)
    }

    /// In a selector, a sink that names one place for every user would have each user's
    /// key overwrite the last: its place must say `${user}`.
    fn check_shared(&mut self, sink: &Sink, at: &Origin) {
        if !self.template_vars.contains(&"user") {
            return;
        }
        if let Some(place) = sink.destination().filter(|p| !p.contains("${user}")) {
            self.report(
                at,
                format!("every user this selector matches would write the same {place}"),
                "put `${user}` in it, e.g. `secret_id = \"ci/${user}/aws\"` or `path = \"secrets/${user}.json\"`",
            );
        }
    }

    /// The `format` attribute, defaulting by credential kind; `None` (reported) when it is
    /// unknown or does not suit the credential.
    fn sink_format(&mut self, d: &Deliver) -> Option<SecretFormat> {
        let Some(attr) = d.body.get_attribute("format") else {
            return Some(match d.credential {
                CredentialKind::AccessKey => SecretFormat::Json,
                CredentialKind::SigningCertificate => SecretFormat::Pem,
            });
        };
        let text = self.string_attr(d.ctx, d.body, "format")?;
        let parsed = SecretFormat::parse(&text);
        let message = match parsed {
            None => format!("unknown format `{text}`"),
            Some(f) if !f.fits(d.credential) => {
                format!("format `{text}` does not suit {}s", d.credential.noun())
            }
            Some(_) => return parsed,
        };
        let a_at = d.ctx.origin(attr.span());
        self.report(
            &a_at,
            message,
            format!("use one of: {}", SecretFormat::NAMES),
        );
        None
    }

    fn file_sink(&mut self, d: &Deliver) -> Option<Sink> {
        let (ctx, body) = (d.ctx, d.body);
        self.only(ctx, body, "`deliver \"file\"`", &["path", "format"], &[]);
        let path = self.string_attr(ctx, body, "path");
        if path.is_none() && body.get_attribute("path").is_none() {
            self.report(
                d.at,
                "`deliver \"file\"` needs a `path`",
                "add `path = \"secrets/NAME.json\"`",
            );
        }
        let format = self.sink_format(d)?;
        Some(Sink::File {
            path: PathBuf::from(path?),
            format,
        })
    }

    fn stdout_sink(&mut self, d: &Deliver) -> Option<Sink> {
        self.only(d.ctx, d.body, "`deliver \"stdout\"`", &["format"], &[]);
        let format = self.sink_format(d)?;
        Some(Sink::Stdout { format })
    }

    fn secrets_manager_sink(&mut self, d: &Deliver) -> Option<Sink> {
        let (ctx, body, at) = (d.ctx, d.body, d.at);
        let place = "`deliver \"secrets_manager\"`";
        let attrs = ["secret_id", "create", "format", "account"];
        self.only(ctx, body, place, &attrs, &[]);
        let secret_id = self.required_string(ctx, body, at, place, "secret_id", "ci/deployer");
        let create = self.bool_attr(ctx, body, "create").unwrap_or(false);
        let account = self.account_ref(ctx, body);
        let format = self.sink_format(d)?;
        Some(Sink::SecretsManager {
            account,
            secret_id: secret_id?,
            create,
            format,
        })
    }

    fn ssm_parameter_sink(&mut self, d: &Deliver) -> Option<Sink> {
        let (ctx, body, at) = (d.ctx, d.body, d.at);
        let place = "`deliver \"ssm_parameter\"`";
        let attrs = ["name", "kms_key_id", "format", "account"];
        self.only(ctx, body, place, &attrs, &[]);
        let name = self.required_string(ctx, body, at, place, "name", "/ci/deployer");
        let kms_key_id = self.string_attr(ctx, body, "kms_key_id");
        let account = self.account_ref(ctx, body);
        let format = self.sink_format(d)?;
        Some(Sink::SsmParameter {
            account,
            name: name?,
            kms_key_id,
            format,
        })
    }

    fn aws_profile_sink(&mut self, d: &Deliver) -> Option<Sink> {
        let (ctx, body, at) = (d.ctx, d.body, d.at);
        let place = "`deliver \"aws_profile\"`";
        self.only(ctx, body, place, &["file", "profile"], &[]);
        let file = self.required_string(ctx, body, at, place, "file", "~/.aws/credentials");
        let profile = self.required_string(ctx, body, at, place, "profile", "ci");
        Some(Sink::AwsProfile {
            file: PathBuf::from(file?),
            profile: profile?,
        })
    }

    fn exec_sink(&mut self, d: &Deliver) -> Option<Sink> {
        let (ctx, body) = (d.ctx, d.body);
        let place = "`deliver \"exec\"`";
        self.only(
            ctx,
            body,
            place,
            &["command", "timeout", "format", "env", "pass_env"],
            &[],
        );
        let command = self.exec_command(ctx, body, d.at, place);
        let format = self.sink_format(d)?;
        let (command, timeout, env) = command?;
        Some(Sink::Exec {
            command,
            timeout,
            format,
            env,
        })
    }

    /// A command's `command`, `timeout` (default 60s) and environment (`env`, `pass_env`),
    /// as an exec sink and an exec confirm check both declare them.
    pub(super) fn exec_command(
        &mut self,
        ctx: &FileCtx,
        body: &Body,
        at: &Origin,
        place: &str,
    ) -> Option<(Vec<String>, Window, ExecEnv)> {
        let command = self.string_list_attr(ctx, body, "command", r#""./reload.sh", "--now""#);
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
        let env = ExecEnv {
            set: self.string_map_attr(ctx, body, "env").unwrap_or_default(),
            pass: match body.get_attribute("pass_env") {
                Some(_) => self.string_list_attr(ctx, body, "pass_env", r#""HTTPS_PROXY""#)?,
                None => Vec::new(),
            },
        };
        Some((command?, timeout?, env))
    }
}
