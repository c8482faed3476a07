//! Which URLs keyrot may send to or check, and how they are shown.
//!
//! Plain `http` is refused except to a loopback address: a webhook URL carries its token in
//! the path, and nothing of keyrot's should cross a network in clear. For the same reason a
//! URL is shown by scheme, host and port only. The config checks `notify` URLs and `confirm
//! "http"` URLs with this rule and the HTTP client applies it again before every request.

pub use url::Url;

/// The parsed URL, or why it may not be used: only `https`, or `http` to a loopback address.
pub fn check_url(url: &str) -> Result<Url, &'static str> {
    let parsed = Url::parse(url).map_err(|_| "not a valid URL")?;
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(parsed),
        "https" => Err("the URL names no host"),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err("plain http is only allowed to a loopback address; use https"),
        _ => Err("only https URLs are allowed"),
    }
}

/// A URL as errors and logs show it: scheme, host and port (the path can hold a token).
pub fn display_url(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => format!("{}://", url.scheme()),
    }
}

/// [`display_url`] of text that may not parse.
pub fn display_text(url: &str) -> String {
    Url::parse(url)
        .map(|u| display_url(&u))
        .unwrap_or_else(|_| "(invalid URL)".to_string())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_http_only_to_loopback() {
        assert!(check_url("https://hooks.example.com/T000/B000/XXXX").is_ok());
        assert!(check_url("http://127.0.0.1:8080/health").is_ok());
        assert!(check_url("http://[::1]:8080/").is_ok());
        assert!(check_url("http://localhost/").is_ok());
        assert!(check_url("http://app.internal/health").is_err());
        assert!(check_url("http://10.0.0.1/").is_err());
        assert!(check_url("ftp://127.0.0.1/").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[test]
    fn shown_without_path_or_query() {
        assert_eq!(
            display_text("https://hooks.example.com/T000/B000/SECRET?token=x"),
            "https://hooks.example.com"
        );
        assert_eq!(
            display_text("http://127.0.0.1:8080/SECRET"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            display_text("https://app.internal:8443/health?token=SECRET"),
            "https://app.internal:8443"
        );
        assert_eq!(display_text("::"), "(invalid URL)");
    }
}
