//! The session apps this node recorded lately. A session that answers the same app again
//! with the same NameID (a SAML SP asking for a fresh assertion, an OIDC client starting
//! another code flow) would write the very row it wrote a moment ago; remembering what was
//! written spares that statement on the hot sign-in paths.
//!
//! Sound because the row outlives every later answer of its session: `session_apps` rows are
//! deleted only by the purge, once their session row is gone, and with their tenant — after
//! either, the session answers nothing more. A remembered row is written again after
//! [`REFRESH_AFTER`] so that its `last_at` stays within that of the truth, and whatever this
//! node does not remember (another node's answer, a restart, an evicted entry) is written as
//! before.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use crate::store::SessionApp;

/// How long a remembered row spares its writes, in seconds.
pub const REFRESH_AFTER: i64 = 3600;

/// Rows remembered at most; past it, the stale ones go, and if none is stale, all of them.
const CAPACITY: usize = 4096;

/// What this node recorded lately: a keyed hash of each row's content, and when it wrote it.
#[derive(Debug, Default)]
pub struct RecordedApps {
    written: Mutex<HashMap<u64, i64>>,
    keys: RandomState,
}

impl RecordedApps {
    /// Whether `app` is a row this node wrote, unchanged, less than [`REFRESH_AFTER`] ago.
    pub fn is_fresh(&self, app: &SessionApp) -> bool {
        let key = self.key(app);
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .is_some_and(|&at| app.at - at < REFRESH_AFTER)
    }

    /// Remembers that `app` was written (at `app.at`).
    pub fn remember(&self, app: &SessionApp) {
        let key = self.key(app);
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.len() >= CAPACITY && !written.contains_key(&key) {
            written.retain(|_, at| app.at - *at < REFRESH_AFTER);
            if written.len() >= CAPACITY {
                written.clear();
            }
        }
        written.insert(key, app.at);
    }

    /// Everything the row holds but its time. Keyed (a random key per node), so that no one
    /// can choose session or NameID values that collide.
    fn key(&self, app: &SessionApp) -> u64 {
        self.keys.hash_one((
            &app.session_id,
            &app.app_id,
            &app.tenant_id,
            &app.client_id,
            &app.user_id,
            &app.name_id,
            &app.name_id_format,
            &app.session_index,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(session: &str, name_id: Option<&str>, at: i64) -> SessionApp {
        SessionApp {
            session_id: session.to_owned(),
            app_id: "app".to_owned(),
            tenant_id: "tenant".to_owned(),
            client_id: "client".to_owned(),
            user_id: "user".to_owned(),
            name_id: name_id.map(str::to_owned),
            name_id_format: None,
            session_index: None,
            at,
        }
    }

    #[test]
    fn a_row_is_fresh_only_unchanged_and_within_the_refresh_time() {
        let recorded = RecordedApps::default();
        let first = row("s1", Some("alice"), 1_000);
        assert!(!recorded.is_fresh(&first), "nothing is remembered yet");
        recorded.remember(&first);
        assert!(recorded.is_fresh(&row("s1", Some("alice"), 1_000 + REFRESH_AFTER - 1)));
        assert!(
            !recorded.is_fresh(&row("s1", Some("alice"), 1_000 + REFRESH_AFTER)),
            "written again once an hour"
        );
        assert!(
            !recorded.is_fresh(&row("s1", Some("bob"), 1_001)),
            "another NameID"
        );
        assert!(
            !recorded.is_fresh(&row("s2", Some("alice"), 1_001)),
            "another session"
        );
        assert!(!recorded.is_fresh(&row("s1", None, 1_001)), "no NameID");
    }

    #[test]
    fn a_full_memory_drops_stale_rows_first_then_everything() {
        let recorded = RecordedApps::default();
        for i in 0..CAPACITY - 1 {
            recorded.remember(&row(&format!("old{i}"), None, 0));
        }
        recorded.remember(&row("recent", None, REFRESH_AFTER));
        // Full: the next new row drops the stale ones and keeps the recent one.
        recorded.remember(&row("new", None, REFRESH_AFTER + 1));
        assert!(recorded.is_fresh(&row("recent", None, REFRESH_AFTER + 2)));
        assert!(recorded.is_fresh(&row("new", None, REFRESH_AFTER + 2)));
        assert_eq!(recorded.written.lock().expect("a lock").len(), 2);

        // Full of fresh rows: it starts over rather than grow.
        for i in 0..CAPACITY {
            recorded.remember(&row(&format!("fresh{i}"), None, 10 * REFRESH_AFTER));
        }
        assert!(recorded.written.lock().expect("a lock").len() <= CAPACITY);
        assert!(recorded.is_fresh(&row(
            &format!("fresh{}", CAPACITY - 1),
            None,
            10 * REFRESH_AFTER
        )));
    }
}
