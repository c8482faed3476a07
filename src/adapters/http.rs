//! A small HTTP client for webhooks and health checks, on the hyper/rustls (aws-lc) stack
//! the AWS SDK already links.
//!
//! Plain `http` is refused except to a loopback address: a webhook URL carries its token in
//! the path, and nothing of keyrot's should cross a network in clear. For the same reason
//! errors name a URL by scheme, host and port only, and redirects are never followed.

use std::time::Duration;

pub use reqwest::Url;

/// At most this much of a response body is kept (checks show it; webhooks ignore it).
pub const BODY_EXCERPT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url}: {why}")]
    Refused { url: String, why: &'static str },
    #[error("{url}: no answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("{url}: {message}")]
    Failed { url: String, message: String },
}

/// An answer: its status and the start of its body (lossy UTF-8, at most `BODY_EXCERPT`
/// bytes, cut on a character boundary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

pub struct HttpClient {
    client: reqwest::Client,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose every request, body included, ends within `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keyrot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Failed {
                url: String::new(),
                message: describe(&e),
            })?;
        Ok(HttpClient { client, timeout })
    }

    pub async fn get(&self, url: &str) -> Result<Response, HttpError> {
        let url = checked(url)?;
        self.send(&url, self.client.get(url.clone())).await
    }

    /// POSTs `json` (already serialized) with `Content-Type: application/json`.
    pub async fn post_json(&self, url: &str, json: String) -> Result<Response, HttpError> {
        let url = checked(url)?;
        let request = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json);
        self.send(&url, request).await
    }

    async fn send(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<Response, HttpError> {
        let failed = |e: reqwest::Error| self.error(url, &e);
        let mut answer = request.send().await.map_err(failed)?;
        let status = answer.status().as_u16();
        let mut body = Vec::new();
        while body.len() < BODY_EXCERPT {
            match answer.chunk().await.map_err(failed)? {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok(Response {
            status,
            body: excerpt(&body),
        })
    }

    fn error(&self, url: &Url, e: &reqwest::Error) -> HttpError {
        if e.is_timeout() {
            HttpError::Timeout {
                url: display_url(url),
                seconds: self.timeout.as_secs().max(1),
            }
        } else {
            HttpError::Failed {
                url: display_url(url),
                message: describe(e),
            }
        }
    }
}

/// Why `url` may not be used, if it may not: only `https`, or `http` to a loopback address
/// (the rule is the core's, so the config refuses such a URL at its position too).
pub fn check_url(url: &str) -> Result<Url, &'static str> {
    crate::core::url::check(url)
}

/// A URL as errors and logs show it: scheme, host and port (the path can hold a token).
pub fn display_url(url: &Url) -> String {
    crate::core::url::display(url)
}

fn checked(url: &str) -> Result<Url, HttpError> {
    check_url(url).map_err(|why| HttpError::Refused {
        url: crate::core::url::origin(url),
        why,
    })
}

/// The error and its causes, without the URL reqwest would print in full.
fn describe(e: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    text.push_str(if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer's body could not be read"
    } else {
        "the request failed"
    });
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(BODY_EXCERPT)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    // A multi-byte character cut in two at the end becomes U+FFFD; drop it.
    if bytes.len() > BODY_EXCERPT && text.ends_with('\u{FFFD}') {
        text.pop();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_host_never_the_path() {
        let error = checked("http://hooks.example.com/T000/B000/SECRETTOKEN").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("http://hooks.example.com"), "{text}");
        assert!(!text.contains("SECRETTOKEN"), "{text}");
    }

    #[test]
    fn excerpts_are_bounded_and_cut_on_a_character() {
        let long = "é".repeat(BODY_EXCERPT);
        let text = excerpt(long.as_bytes());
        assert!(text.len() <= BODY_EXCERPT);
        assert!(text.chars().all(|c| c == 'é'), "{text:?}");
        assert_eq!(excerpt(b"ok"), "ok");
    }
}
