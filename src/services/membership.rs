//! Group membership as the rules see it: the groups a user belongs to (the one answer that
//! assignment checks, conditional access, My Apps and the `groups`/`roles` claims all use).

use crate::store::{Store, StoreResult};

/// The ids of the groups `user_id` belongs to.
pub async fn groups_of_user(store: &dyn Store, user_id: &str) -> StoreResult<Vec<String>> {
    store.groups_of_user(user_id).await
}
