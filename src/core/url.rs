//! Which URLs keyrot may call (health checks, webhooks), and how it names them. Pure: the
//! config refuses a bad URL at its position, and the HTTP client refuses it again.
//!
//! Plain `http` is allowed only to a loopback address: nothing of keyrot's should cross a
//! network in clear. A URL is named by scheme, host and port only: its path can hold a
//! token (webhooks carry theirs there).

pub use url::Url;

/// The URL, or why keyrot may not call it: only `https`, or `http` to a loopback address.
pub fn check(text: &str) -> Result<Url, &'static str> {
    let parsed = Url::parse(text).map_err(|_| "not a valid URL")?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err("plain http is only allowed to a loopback address; use https"),
        _ => Err("only https URLs are allowed"),
    }
}

/// A URL as messages, logs and the state show it: scheme, host and port.
pub fn display(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => format!("{}://", url.scheme()),
    }
}

/// [`display`] of a URL given as text; `(invalid URL)` when it does not parse.
pub fn origin(text: &str) -> String {
    Url::parse(text)
        .map(|u| display(&u))
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
        assert!(check("https://hooks.example.com/T000/B000/XXXX").is_ok());
        assert!(check("http://127.0.0.1:8080/health").is_ok());
        assert!(check("http://[::1]:8080/").is_ok());
        assert!(check("http://localhost/").is_ok());
        assert!(check("http://app.internal/health").is_err());
        assert!(check("http://10.0.0.1/").is_err());
        assert!(check("ftp://127.0.0.1/").is_err());
        assert!(check("not a url").is_err());
    }

    #[test]
    fn names_show_the_origin_never_the_path() {
        assert_eq!(
            origin("https://app.internal:8443/health?token=SECRET"),
            "https://app.internal:8443"
        );
        assert_eq!(origin("https://app.internal/x"), "https://app.internal");
        assert_eq!(origin("::"), "(invalid URL)");
    }
}
