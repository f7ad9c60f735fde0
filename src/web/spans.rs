//! The trace span of each request the server answers (its name a route template, its parent
//! the caller's W3C `traceparent`) and its status; the exporter itself is `telemetry`.

use std::time::Duration;

/// The span of one request: named `METHOD /route/template` (never the URI: queries carry
/// codes and tokens) and parented on the caller's `traceparent`, if any.
pub fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", axum::extract::MatchedPath::as_str);
    let method = request.method();
    let span = tracing::debug_span!(
        "http",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if !span.is_disabled() {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&opentelemetry_http::HeaderExtractor(request.headers()))
        });
        let _ = span.set_parent(parent);
    }
    span
}

/// Records the response's status on the request's span (5xx marks it failed).
pub fn record_status<B>(response: &axum::http::Response<B>, _: Duration, span: &tracing::Span) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}
