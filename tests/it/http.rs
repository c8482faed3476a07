//! The shared HTTP client (webhooks, health checks) against a local server.

use crate::common::http_server::HttpServer;
use keyrot::adapters::http::{HttpClient, HttpError, BODY_EXCERPT};
use std::time::Duration;

fn client() -> HttpClient {
    HttpClient::new(Duration::from_secs(5)).unwrap()
}

#[test]
fn posts_json_and_reads_the_status_and_a_bounded_body() {
    let server = HttpServer::start();
    server.answer(201, &"x".repeat(3 * BODY_EXCERPT));
    let answer = crate::common::rt()
        .block_on(client().post_json(
            &format!("{}/hook/T000", server.url),
            r#"{"text":"hi"}"#.into(),
        ))
        .unwrap();
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body.len(), BODY_EXCERPT);
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/hook/T000");
    assert_eq!(seen[0].body, r#"{"text":"hi"}"#);
}

#[test]
fn a_get_reports_an_error_status_as_an_answer() {
    let server = HttpServer::start();
    server.answer(500, "database down");
    let answer = crate::common::rt()
        .block_on(client().get(&format!("{}/health", server.url)))
        .unwrap();
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (500, "database down")
    );
}

#[test]
fn a_closed_port_is_an_error_that_never_shows_the_path() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let error = crate::common::rt()
        .block_on(client().get(&format!("http://127.0.0.1:{port}/T000/SECRETPATH")))
        .unwrap_err();
    assert!(matches!(error, HttpError::Failed { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains(&format!("http://127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("SECRETPATH"), "{text}");
}
