//! Prometheus metrics: their names and the recorder. The `metrics` facade records them where
//! things happen (requests, sign-ins, second factors, invitations, mail) and
//! `metrics-exporter-prometheus` renders them; the operations door (`health`) serves them on a
//! listener of their own and reads the node's gauges afresh at each scrape.
//!
//! Names and labels are low-cardinality: routes are the router's templates (never the URI),
//! statuses and outcomes are small fixed sets.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests served: `route`, `method`, `status`.
pub const HTTP_REQUESTS: &str = "gatehouse_http_requests_total";
/// Time to answer, seconds: `route`, `method`.
pub const HTTP_DURATION: &str = "gatehouse_http_request_duration_seconds";
/// Sign-in attempts: `protocol`, `outcome` (success, failure, interrupted).
pub const SIGN_INS: &str = "gatehouse_sign_ins_total";
/// Second-factor answers: `result` (totp, recovery, wrong, throttled).
pub const MFA_CHALLENGES: &str = "gatehouse_mfa_challenges_total";
/// Invitations created.
pub const INVITATIONS_CREATED: &str = "gatehouse_invitations_created_total";
/// Invitations redeemed.
pub const INVITATIONS_REDEEMED: &str = "gatehouse_invitations_redeemed_total";
/// Mail handed to the transport.
pub const MAIL_SENT: &str = "gatehouse_mail_sent_total";
/// Failed mail deliveries (each will be retried).
pub const MAIL_FAILURES: &str = "gatehouse_mail_failures_total";
/// Back-channel logout notifications delivered.
pub const LOGOUT_SENT: &str = "gatehouse_backchannel_logout_sent_total";
/// Failed back-channel logout attempts: `outcome` (retry, given_up).
pub const LOGOUT_FAILURES: &str = "gatehouse_backchannel_logout_failures_total";

/// The process's recorder, installed once (several nodes in one test process share it).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (idempotent); `None` if another recorder is installed.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), &buckets)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .clone()
}
