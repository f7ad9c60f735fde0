//! Groups: sets of users that policies, app assignments and delegated invitation rights name.

use serde::{Deserialize, Serialize};

/// A group as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    /// Object id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Display name.
    pub display_name: String,
    /// Creation time.
    pub created_at: i64,
}
