//! OpenTelemetry traces: a real `gatehouse serve` exports OTLP/HTTP protobuf to a collector
//! listening in the test, which decodes it with the OpenTelemetry protocol's own types. One
//! server span per request, named by its route template and parented on the caller's
//! `traceparent`; store calls as its children; nothing from the URL's query; no traces for
//! the background polls.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind};
use prost::Message as _;

use crate::operations::spawn_server;

/// Spans received, with the service name of their resource.
type Received = Arc<Mutex<Vec<(String, Span)>>>;

/// An OTLP/HTTP collector on a free port: `POST /v1/traces` with protobuf bodies.
async fn collector() -> (String, Received) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    assert_eq!(headers["content-type"], "application/x-protobuf");
                    let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                    for resource in request.resource_spans {
                        let service = resource
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|a| a.key == "service.name")
                            .and_then(|a| string(a.value.as_ref()?.value.as_ref()?))
                            .unwrap_or_default();
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                sink.lock().unwrap().push((service.clone(), span));
                            }
                        }
                    }
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (endpoint, received)
}

fn string(value: &Value) -> Option<String> {
    match value {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| string(a.value.as_ref()?.value.as_ref()?))
}

#[tokio::test]
async fn requests_are_exported_as_server_spans_with_their_store_calls_under_the_callers_trace() {
    let (endpoint, received) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let migrated = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_DATABASE_URL")
        .args(["migrate"])
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let (mut child, port, _lines) = spawn_server(
        &dir,
        &[
            ("GATEHOUSE_OTLP__ENDPOINT", endpoint.as_str()),
            ("GATEHOUSE_OTLP__SERVICE_NAME", "gatehouse-under-test"),
            ("GATEHOUSE_SERVER__DRAIN_SECONDS", "0"),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    // The caller's trace: version 00, trace id, parent span id, sampled.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let discovery = client
        .get(format!("{base}/contoso/.well-known/openid-configuration"))
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 404, "no such tenant");
    let token = client
        .post(format!("{base}/contoso/oauth2/token?leak=SECRET-IN-QUERY"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "SECRET-CODE"),
        ])
        .send()
        .await
        .unwrap();
    assert!(token.status().is_client_error());
    // Let background polls run a while: none of them may become a trace.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    // SIGTERM: the server exports what is queued before it exits.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success());

    let spans = received.lock().unwrap().clone();
    assert!(
        spans
            .iter()
            .all(|(service, _)| service == "gatehouse-under-test"),
        "the configured service name"
    );
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let discovery = spans
        .iter()
        .map(|(_, span)| span)
        .find(|s| s.name == "GET /{tenant}/.well-known/openid-configuration")
        .unwrap_or_else(|| panic!("a server span named by the route: {spans:#?}"));
    assert_eq!(discovery.kind, SpanKind::Server as i32);
    assert_eq!(hex(&discovery.trace_id), trace_id, "the caller's trace");
    assert_eq!(
        hex(&discovery.parent_span_id),
        parent_id,
        "the caller's span"
    );
    assert_eq!(
        attribute(discovery, "http.response.status_code").as_deref(),
        Some("404")
    );
    assert_eq!(
        attribute(discovery, "http.route").as_deref(),
        Some("/{tenant}/.well-known/openid-configuration")
    );
    let store_calls: Vec<&Span> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|s| s.parent_span_id == discovery.span_id && s.name.starts_with("store."))
        .collect();
    assert!(
        !store_calls.is_empty(),
        "the tenant lookup is a child span: {spans:#?}"
    );
    assert!(
        store_calls
            .iter()
            .all(|s| s.kind == SpanKind::Client as i32 && s.trace_id == discovery.trace_id)
    );

    let token = spans
        .iter()
        .map(|(_, span)| span)
        .find(|s| s.name == "POST /{tenant}/oauth2/token")
        .expect("the token request's span");
    assert!(
        token.parent_span_id.is_empty(),
        "no traceparent: a new trace"
    );
    let everything = format!("{spans:?}");
    assert!(
        !everything.contains("SECRET"),
        "no query or form value reaches a span"
    );
    // The configuration watcher and the outbox poll the store several times a second: no
    // store span stands alone.
    let ids: std::collections::HashSet<&[u8]> =
        spans.iter().map(|(_, s)| s.span_id.as_slice()).collect();
    for (_, span) in &spans {
        if span.kind == SpanKind::Client as i32 {
            assert!(
                ids.contains(span.parent_span_id.as_slice()),
                "a store or Redis span belongs to a request: {span:?}"
            );
        }
    }
}
