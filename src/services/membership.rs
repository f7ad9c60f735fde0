//! Group membership as the rules see it: the groups a user belongs to, directly or through
//! groups nested in groups — the one answer that assignment checks, conditional access, My Apps
//! and the `groups`/`roles` claims all use.
//!
//! Nesting is resolved by one recursive query per call, at most
//! [`crate::domain::group::MAX_NESTING`] (8) levels up; nothing is cached, so a membership
//! change shows in the next token.

use crate::domain::group::GroupKind;
use crate::store::{Store, StoreResult};

/// The ids of the groups `user_id` belongs to, directly or through nesting, sorted.
pub async fn groups_of_user(store: &dyn Store, user_id: &str) -> StoreResult<Vec<String>> {
    Ok(store
        .transitive_groups(user_id)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect())
}

/// The groups `user_id` belongs to, directly or through nesting, each with whether it is a
/// security group (for the `groups` claim's `SecurityGroup` setting), sorted by id.
pub async fn groups_with_kinds(store: &dyn Store, user_id: &str) -> StoreResult<Vec<GroupKind>> {
    store.transitive_groups(user_id).await
}
