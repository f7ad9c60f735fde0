//! `gatehouse openapi`: print the admin API's OpenAPI document.

use super::common::print;

/// Prints the document served at /openapi.json.
pub(super) fn run() -> anyhow::Result<()> {
    serde_json::to_value(crate::graph::api().1)
        .map_err(anyhow::Error::from)
        .and_then(print)
}
