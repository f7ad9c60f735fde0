//! Structured logging with `tracing`, to stderr (stdout belongs to the CLI's JSON output), and
//! optional OpenTelemetry traces over OTLP/HTTP.
//!
//! The log filter comes from `GATEHOUSE_LOG` or `RUST_LOG` (default `info`); the format from
//! the configuration. Nothing logged anywhere carries a password, code, token or secret:
//! handlers log ids and outcomes only, and request spans name the route template, not the URI.
//!
//! With `otlp.endpoint` set, every request is a server span (`GET /{tenant}/oauth2/token`),
//! parented on the caller's W3C `traceparent` when it sends one, and store, ephemeral-store,
//! partner and mail calls are child spans. Those spans are `debug` spans of the `gatehouse`
//! target: the trace exporter has its own filter, so they cost nothing when traces are off and
//! do not clutter the log when they are on.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{
    EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt,
};

use crate::config::{LogFormat, OtlpSettings};

/// The filter of the server when none is configured.
pub const SERVER_FILTER: &str = "info,sqlx=warn,tower_http=warn";
/// The filter of the administration commands when none is configured: their output is on
/// stdout, and stderr stays quiet but for warnings (no log line per invited row).
pub const COMMAND_FILTER: &str = "warn";
/// What the trace exporter sees: Gatehouse's own spans, down to store calls.
const TRACE_FILTER: &str = "gatehouse=debug";
/// How long an exporter waits for the collector per batch.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The installed telemetry; [`Telemetry::shutdown`] sends the spans still queued.
#[must_use = "shut telemetry down before exit, or queued spans are lost"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still queued (bounded by the export timeout) and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "the last traces could not be exported");
        }
    }
}

/// Installs the global subscriber (once; later calls are ignored, which tests rely on), with
/// `default` as the log filter unless `GATEHOUSE_LOG` or `RUST_LOG` names one, and an OTLP
/// trace exporter when `otlp.endpoint` is set. Must run inside the Tokio runtime.
pub fn init(format: LogFormat, default: &str, otlp: &OtlpSettings) -> anyhow::Result<Telemetry> {
    let filter = std::env::var("GATEHOUSE_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    // Colour only for a person at a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false);
    let log = match format {
        LogFormat::Json => log.json().with_filter(filter).boxed(),
        LogFormat::Compact => log.compact().with_filter(filter).boxed(),
    };
    let provider = otlp
        .endpoint
        .as_deref()
        .map(|e| tracer_provider(e, otlp))
        .transpose()?;
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("gatehouse"))
            .with_threads(false)
            .with_filter(EnvFilter::new(TRACE_FILTER))
    });
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
    }
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(traces)
        .try_init();
    Ok(Telemetry { traces: provider })
}

/// A provider batching spans to the collector at `endpoint` from a Tokio task.
fn tracer_provider(endpoint: &str, otlp: &OtlpSettings) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| anyhow::anyhow!("cannot export traces to {endpoint} (otlp.endpoint): {e}"))?;
    let processor =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name(
            otlp.service_name
                .clone()
                .unwrap_or_else(|| "gatehouse".into()),
        )
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_sampler(NoBackgroundPolling)
        .with_span_processor(processor)
        .with_resource(resource)
        .build())
}

/// Samples every trace but those a background poll starts: a client span (a store, Redis or
/// partner call) without a parent is the configuration watcher or the mail outbox checking
/// for work several times a second, not something an operator wants to see as a trace. A
/// span with a parent follows its parent's decision, as the caller's `traceparent` asks.
#[derive(Clone, Debug)]
struct NoBackgroundPolling;

impl opentelemetry_sdk::trace::ShouldSample for NoBackgroundPolling {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        _: opentelemetry::trace::TraceId,
        _: &str,
        kind: &opentelemetry::trace::SpanKind,
        _: &[opentelemetry::KeyValue],
        _: &[opentelemetry::trace::Link],
    ) -> opentelemetry_sdk::trace::SamplingResult {
        use opentelemetry::trace::TraceContextExt as _;
        use opentelemetry_sdk::trace::SamplingDecision;
        let parent = parent_context
            .map(|cx| cx.span().span_context().clone())
            .filter(opentelemetry::trace::SpanContext::is_valid);
        let decision = match &parent {
            Some(parent) if parent.is_sampled() => SamplingDecision::RecordAndSample,
            Some(_) => SamplingDecision::Drop,
            None if *kind == opentelemetry::trace::SpanKind::Client => SamplingDecision::Drop,
            None => SamplingDecision::RecordAndSample,
        };
        opentelemetry_sdk::trace::SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state: parent.map(|p| p.trace_state().clone()).unwrap_or_default(),
        }
    }
}
