//! Groups: sets of users (and of other groups: nesting) that policies, app assignments,
//! delegated invitation rights and the `groups` claim name.

use serde::{Deserialize, Serialize};

/// How many levels of nesting membership is resolved through: a user's direct groups are level
/// 1, a group that contains one of them level 2, and so on. Adding a group to a group is refused
/// when a chain would grow longer, and resolution stops there whatever is stored.
pub const MAX_NESTING: usize = 8;

/// A group as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    /// Object id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// A security group (Graph's `securityEnabled`): the `groups` claim can be limited to these.
    #[serde(default = "security_default")]
    pub security_enabled: bool,
    /// Creation time.
    pub created_at: i64,
}

fn security_default() -> bool {
    true
}

/// What a directory object a group holds is: a user or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberKind {
    /// A user.
    User,
    /// A group (nesting).
    Group,
}

/// A group of a user's transitive membership with the kind of group it is (for the `groups`
/// claim's `SecurityGroup` setting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupKind {
    /// The group's object id.
    pub id: String,
    /// Whether it is a security group.
    pub security_enabled: bool,
}
