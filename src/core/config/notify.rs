//! `notify "webhook" { … }` and `notify "sns" { … }`: where a run's summary goes.

use super::syntax::Expr;
use super::syntax::Span;
use super::syntax::{Block, Body};
use super::types::{Channel, Notify};
use super::walker::{FileCtx, Origin, Walker};
use crate::core::notify::Event;
use crate::core::weburl;

const USAGE: &str = "`notify \"webhook\" { url = \"https://…\" }` or `notify \"sns\" { topic_arn = \"arn:aws:sns:…\" }`";

impl Walker {
    pub(super) fn notify_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        let labels = self.labels(block, &at, 1, USAGE);
        let Some(kind) = labels.first() else {
            return;
        };
        let body = &block.body;
        let channel = match *kind {
            "webhook" => self.webhook(ctx, body, &at),
            "sns" => self.sns(ctx, body, &at),
            other => {
                self.report(
                    &at,
                    format!("unknown notify channel `{other}`"),
                    format!("channels are {USAGE}"),
                );
                return;
            }
        };
        let events = self.events(ctx, body);
        let (Some(channel), Some(events)) = (channel, events) else {
            return;
        };
        if let Some((_, first)) = self.notify.iter().find(|(n, _)| n.channel == channel) {
            let note = format!(
                "it is already declared at {}:{}:{}; each channel would get every message twice",
                first.file, first.line, first.column
            );
            let message = format!("duplicate notify channel {}", channel.describe());
            self.report(&at, message, note);
            return;
        }
        self.notify.push((Notify { channel, events }, at));
    }

    fn webhook(&mut self, ctx: &FileCtx, body: &Body, at: &Origin) -> Option<Channel> {
        let place = "`notify \"webhook\"`";
        self.only(ctx, body, place, &["url", "events", "topic_arn"], &[]);
        self.misplaced(ctx, body, "topic_arn", "sns");
        let url =
            self.required_string(ctx, body, at, place, "url", "https://hooks.example.com/…")?;
        if let Err(why) = weburl::check_url(&url) {
            // The path is not repeated: it can hold the webhook's token.
            let message = format!("notify url {}: {why}", weburl::display_text(&url));
            self.report_value(
                ctx,
                body,
                "url",
                message,
                "e.g. `url = \"https://hooks.slack.com/services/T000/B000/XXXX\"`",
            );
            return None;
        }
        Some(Channel::Webhook { url })
    }

    fn sns(&mut self, ctx: &FileCtx, body: &Body, at: &Origin) -> Option<Channel> {
        let place = "`notify \"sns\"`";
        self.only(ctx, body, place, &["topic_arn", "events", "url"], &[]);
        self.misplaced(ctx, body, "url", "webhook");
        let example = "arn:aws:sns:us-east-1:123456789012:keyrot";
        let topic_arn = self.required_string(ctx, body, at, place, "topic_arn", example)?;
        if let Err(why) = check_topic_arn(&topic_arn) {
            let message = format!("topic_arn `{topic_arn}` is not an SNS topic ARN: {why}");
            self.report_value(
                ctx,
                body,
                "topic_arn",
                message,
                format!("e.g. `topic_arn = \"{example}\"`"),
            );
            return None;
        }
        Some(Channel::Sns { topic_arn })
    }

    /// An attribute of the other channel (both `url` and `topic_arn`, or the wrong one).
    fn misplaced(&mut self, ctx: &FileCtx, body: &Body, key: &str, belongs_in: &str) {
        if let Some(attr) = body.get_attribute(key) {
            let at = ctx.origin(attr.span());
            self.report(
                &at,
                format!("`{key}` belongs in a `notify \"{belongs_in}\"` block"),
                "declare one `notify` block per channel",
            );
        }
    }

    /// `events = ["applied", …]`, sorted and unique; every event when left out.
    fn events(&mut self, ctx: &FileCtx, body: &Body) -> Option<Vec<Event>> {
        let Some(attr) = body.get_attribute("events") else {
            return Some(Event::ALL.to_vec());
        };
        let hint = format!("events are {}; leave `events` out for all", Event::NAMES);
        let Some(array) = attr.value.as_array() else {
            let at = ctx.origin(attr.value.span().or(attr.span()));
            self.report(&at, "`events` must be a list of event names", hint);
            return None;
        };
        let mut events = Vec::new();
        let mut ok = true;
        for item in array.iter() {
            let at = ctx.origin(item.span().or(attr.span()));
            match &item.expr {
                Expr::String(s) => match Event::parse(s) {
                    Some(e) => events.push(e),
                    None => {
                        ok = false;
                        self.report(&at, format!("unknown event `{s}`"), &hint);
                    }
                },
                _ => {
                    ok = false;
                    self.report(&at, "an event is a plain string", &hint);
                }
            }
        }
        if ok && events.is_empty() {
            let at = ctx.origin(attr.span());
            self.report(&at, "`events = []` would never send anything", hint);
            return None;
        }
        events.sort();
        events.dedup();
        ok.then_some(events)
    }

    fn report_value(
        &mut self,
        ctx: &FileCtx,
        body: &Body,
        key: &str,
        message: String,
        hint: impl Into<String>,
    ) {
        if let Some(attr) = body.get_attribute(key) {
            let at = ctx.origin(attr.value.span().or(attr.span()));
            self.report(&at, message, hint);
        }
    }
}

/// `arn:PARTITION:sns:REGION:ACCOUNT:NAME`: the region is where keyrot publishes.
fn check_topic_arn(arn: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = arn.split(':').collect();
    let [prefix, partition, service, region, account, name] = parts[..] else {
        return Err("it has six parts separated by `:`");
    };
    let region_ok = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let name_ok = (1..=256).contains(&name.len())
        && name
            .trim_end_matches(".fifo")
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match () {
        _ if prefix != "arn" || !partition.starts_with("aws") => Err("it starts with `arn:aws:`"),
        _ if service != "sns" => Err("the service is `sns`"),
        _ if !region_ok => Err("it names a region, like `us-east-1`"),
        _ if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) => {
            Err("the account is 12 digits")
        }
        _ if !name_ok => Err("a topic name is 1-256 letters, digits, `-` and `_`"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::Channel;
    use crate::core::config::{parse, Config, Source};
    use crate::core::notify::Event;

    const USER: &str = "user \"ci\" {\n  access_key {\n    deliver \"stdout\" {}\n  }\n}\n";

    fn parsed(text: &str) -> Result<Config, Vec<String>> {
        let source = Source {
            name: "k.hcl".into(),
            text: format!("{USER}{text}"),
        };
        parse(&[source]).map_err(|ds| ds.iter().map(ToString::to_string).collect())
    }

    /// The errors, each with its line (the notify text starts on line 6).
    fn errors(text: &str) -> Vec<String> {
        parsed(text).expect_err("config should be refused")
    }

    #[test]
    fn parses_both_channels_with_default_and_chosen_events() {
        let config = parsed(
            "notify \"webhook\" {\n  url = \"https://hooks.example.com/T000/B000/XXXX\"\n  events = [\"failed\", \"applied\", \"failed\"]\n}\nnotify \"sns\" { topic_arn = \"arn:aws:sns:us-east-1:123456789012:keyrot\" }\n",
        )
        .unwrap();
        assert_eq!(config.notify.len(), 2);
        assert_eq!(config.notify[0].events, vec![Event::Applied, Event::Failed]);
        assert_eq!(config.notify[1].events, Event::ALL.to_vec());
        assert_eq!(
            config.notify[1].channel,
            Channel::Sns {
                topic_arn: "arn:aws:sns:us-east-1:123456789012:keyrot".into()
            }
        );
        assert!(config.notify[0].wants(&[Event::Failed, Event::Waiting]));
        assert!(!config.notify[0].wants(&[Event::Waiting]));
    }

    #[test]
    fn debug_and_describe_never_show_a_webhook_path() {
        let config =
            parsed("notify \"webhook\" { url = \"https://hooks.example.com/T000/SECRETTOKEN\" }\n")
                .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("SECRETTOKEN"), "{debug}");
        assert!(
            debug.contains("webhook https://hooks.example.com"),
            "{debug}"
        );
    }

    #[test]
    fn bad_events_are_named_at_their_position() {
        let e = errors("notify \"sns\" {\n  topic_arn = \"arn:aws:sns:us-east-1:123456789012:t\"\n  events = [\"applied\", \"rotated\"]\n}\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("k.hcl:8:24: unknown event `rotated`"),
            "{e:?}"
        );
        assert!(e[0].contains("applied, failed, rollback, waiting"), "{e:?}");
        let e = errors("notify \"sns\" {\n  topic_arn = \"arn:aws:sns:us-east-1:123456789012:t\"\n  events = []\n}\n");
        assert!(
            e[0].starts_with("k.hcl:8:3:") && e[0].contains("never send"),
            "{e:?}"
        );
        let e = errors("notify \"sns\" {\n  topic_arn = \"arn:aws:sns:us-east-1:123456789012:t\"\n  events = \"all\"\n}\n");
        assert!(
            e[0].starts_with("k.hcl:8:12:") && e[0].contains("a list"),
            "{e:?}"
        );
    }

    #[test]
    fn urls_must_be_https_or_loopback_and_errors_hide_the_path() {
        let e = errors(
            "notify \"webhook\" {\n  url = \"http://hooks.example.com/T000/SECRETTOKEN\"\n}\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("k.hcl:7:9: notify url http://hooks.example.com: plain http"),
            "{e:?}"
        );
        assert!(!e[0].contains("SECRETTOKEN"), "{e:?}");
        let e = errors("notify \"webhook\" {\n  url = \"hooks.example.com\"\n}\n");
        assert!(e[0].contains("not a valid URL"), "{e:?}");
        assert!(parsed("notify \"webhook\" { url = \"http://127.0.0.1:9/hook\" }\n").is_ok());
    }

    #[test]
    fn each_block_has_exactly_its_own_target() {
        let e = errors("notify \"webhook\" {\n  events = [\"failed\"]\n}\n");
        assert!(
            e[0].starts_with("k.hcl:6:1: `notify \"webhook\"` needs `url`"),
            "{e:?}"
        );
        let e = errors("notify \"sns\" {\n}\n");
        assert!(e[0].contains("needs `topic_arn`"), "{e:?}");
        let e = errors("notify \"webhook\" {\n  url = \"https://h.example.com/x\"\n  topic_arn = \"arn:aws:sns:us-east-1:123456789012:t\"\n}\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("k.hcl:8:3: `topic_arn` belongs in a `notify \"sns\"` block"),
            "{e:?}"
        );
        let e = errors("notify \"email\" {\n}\n");
        assert!(
            e[0].starts_with("k.hcl:6:1: unknown notify channel `email`"),
            "{e:?}"
        );
        let e = errors("notify {\n  url = \"https://h.example.com/x\"\n}\n");
        assert!(e[0].contains("takes 1 label(s)"), "{e:?}");
    }

    #[test]
    fn topic_arns_are_checked() {
        for (arn, why) in [
            ("keyrot", "six parts"),
            ("arn:aws:sqs:us-east-1:123456789012:q", "`sns`"),
            ("arn:aws:sns::123456789012:t", "region"),
            ("arn:aws:sns:us-east-1:1234:t", "12 digits"),
            ("arn:aws:sns:us-east-1:123456789012:a b", "topic name"),
        ] {
            let e = errors(&format!("notify \"sns\" {{ topic_arn = \"{arn}\" }}\n"));
            assert!(
                e[0].starts_with("k.hcl:6:28:") && e[0].contains(why),
                "{arn}: {e:?}"
            );
        }
    }

    #[test]
    fn a_channel_declared_twice_is_refused() {
        let block = "notify \"sns\" { topic_arn = \"arn:aws:sns:us-east-1:123456789012:t\" }\n";
        let e = errors(&format!("{block}{block}"));
        assert!(
            e[0].starts_with("k.hcl:7:1: duplicate notify channel"),
            "{e:?}"
        );
        assert!(e[0].contains("k.hcl:6:1"), "{e:?}");
    }
}
