//! Services for unit tests: a node's [`Services`] on a fresh SQLite file in a temporary
//! directory, the in-memory ephemeral store, a master key and keys made on the spot, and mail
//! written as files. Building one takes milliseconds, so the rules of the services tier are
//! tested without HTTP.

use std::sync::Arc;

use super::Services;
use crate::config::Config;

/// A node's services and the directory that holds its files (dropped last).
pub struct TestServices {
    /// The services.
    pub services: Arc<Services>,
    /// Keeps the database and keys until the test ends.
    pub dir: tempfile::TempDir,
}

/// Fresh services with the default configuration changed by `configure`.
pub async fn services_with(configure: impl FnOnce(&mut Config)) -> TestServices {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config {
        data_dir: dir.path().join("data"),
        keys_dir: dir.path().join("keys"),
        ..Config::default()
    };
    std::fs::create_dir_all(&config.data_dir).expect("a data directory");
    config.database_url = Some(format!(
        "sqlite://{}",
        config.data_dir.join("gatehouse.db").display()
    ));
    configure(&mut config);
    let services = Services::connect(config).await.expect("services connect");
    TestServices {
        services: Arc::new(services),
        dir,
    }
}

/// Fresh services with the default configuration.
pub async fn services() -> TestServices {
    services_with(|_| {}).await
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn services_start_on_a_fresh_database_and_are_ready() {
        let test = super::services().await;
        let readiness = super::super::node::readiness(&test.services).await;
        assert!(readiness.is_ready(), "{:?}", readiness.problems);
    }
}
