//! In-process cache of the configuration read on hot paths (tenants by slug, apps by
//! `client_id`, a tenant's partner identity providers with their domains and its conditional
//! access policies), with invalidation that works across nodes: every change bumps a generation
//! counter in the database, and each node polls it every `refresh_interval` seconds, dropping
//! its cache and reloading its key ring when it moves. Changes made by the CLI in another
//! process are therefore seen without a restart.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use crate::domain::app::App;
use crate::domain::partner::PartnerIdp;
use crate::domain::policy::Policy;
use crate::domain::tenant::Tenant;
use crate::keys::KeyRing;
use crate::store::{Store, StoreError, StoreResult};

/// Most names remembered as missing; beyond this the set starts over, so random names sent by
/// a scanner cannot grow memory without bound.
const MAX_MISSING: usize = 10_000;

/// Cached tenants and apps, and the names known not to exist (so unknown slugs and client ids
/// do not cost a database query each; creating one bumps the generation, which clears this).
pub struct Directory {
    store: Arc<dyn Store>,
    tenants: RwLock<HashMap<String, Arc<Tenant>>>,
    apps: RwLock<HashMap<String, Arc<App>>>,
    saml_entities: RwLock<HashMap<String, String>>,
    partners: RwLock<HashMap<String, Arc<Vec<PartnerIdp>>>>,
    policies: RwLock<HashMap<String, Arc<Vec<Policy>>>>,
    missing: RwLock<HashSet<String>>,
    generation: AtomicI64,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

fn read<K, V: Clone>(map: &RwLock<HashMap<K, V>>, key: &str) -> Option<V>
where
    K: std::borrow::Borrow<str> + std::hash::Hash + Eq,
{
    map.read()
        .unwrap_or_else(|p| p.into_inner())
        .get(key)
        .cloned()
}

/// A tenant's list from `map`, or loaded by `load` and remembered until the next
/// invalidation.
async fn per_tenant<T, F, Fut>(
    map: &RwLock<HashMap<String, Arc<Vec<T>>>>,
    tenant_id: &str,
    load: F,
) -> StoreResult<Arc<Vec<T>>>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = StoreResult<Vec<T>>>,
{
    if let Some(list) = read(map, tenant_id) {
        return Ok(list);
    }
    let list = Arc::new(load().await?);
    map.write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(tenant_id.to_owned(), list.clone());
    Ok(list)
}

impl Directory {
    /// An empty cache over `store`, starting at the store's current generation.
    pub async fn new(store: Arc<dyn Store>) -> StoreResult<Self> {
        let generation = store.generation().await?;
        Ok(Self {
            store,
            tenants: RwLock::default(),
            apps: RwLock::default(),
            saml_entities: RwLock::default(),
            partners: RwLock::default(),
            policies: RwLock::default(),
            missing: RwLock::default(),
            generation: AtomicI64::new(generation),
        })
    }

    /// A tenant by slug, or `None` if there is no such tenant.
    pub async fn tenant(&self, slug: &str) -> StoreResult<Option<Arc<Tenant>>> {
        if let Some(tenant) = read(&self.tenants, slug) {
            return Ok(Some(tenant));
        }
        let missing_key = format!("tenant:{slug}");
        if self.is_missing(&missing_key) {
            return Ok(None);
        }
        match self.store.tenant_by_slug(slug).await {
            Ok(tenant) => {
                let tenant = Arc::new(tenant);
                self.tenants
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(slug.to_owned(), tenant.clone());
                Ok(Some(tenant))
            }
            Err(StoreError::NotFound) => {
                self.remember_missing(missing_key);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// An app by `client_id`, or `None` if there is no such app.
    pub async fn app(&self, client_id: &str) -> StoreResult<Option<Arc<App>>> {
        if let Some(app) = read(&self.apps, client_id) {
            return Ok(Some(app));
        }
        let missing_key = format!("app:{client_id}");
        if self.is_missing(&missing_key) {
            return Ok(None);
        }
        match self.store.app_by_client_id(client_id).await {
            Ok(app) => {
                let app = Arc::new(app);
                self.apps
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(client_id.to_owned(), app.clone());
                Ok(Some(app))
            }
            Err(StoreError::NotFound) => {
                self.remember_missing(missing_key);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The tenant's app whose SAML entityID is `entity_id`, or `None`.
    pub async fn saml_app(
        &self,
        tenant_id: &str,
        entity_id: &str,
    ) -> StoreResult<Option<Arc<App>>> {
        let key = format!("{tenant_id}\u{1f}{entity_id}");
        if let Some(client_id) = read(&self.saml_entities, &key) {
            return self.app(&client_id).await;
        }
        let missing_key = format!("saml:{key}");
        if self.is_missing(&missing_key) {
            return Ok(None);
        }
        match self
            .store
            .client_id_by_saml_entity(tenant_id, entity_id)
            .await
        {
            Ok(client_id) => {
                self.saml_entities
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, client_id.clone());
                self.app(&client_id).await
            }
            Err(StoreError::NotFound) => {
                self.remember_missing(missing_key);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The tenant's partner identity providers with their domains, oldest first.
    pub async fn partners(&self, tenant_id: &str) -> StoreResult<Arc<Vec<PartnerIdp>>> {
        per_tenant(&self.partners, tenant_id, || self.store.partners(tenant_id)).await
    }

    /// The tenant's conditional-access policies, oldest first.
    pub async fn policies(&self, tenant_id: &str) -> StoreResult<Arc<Vec<Policy>>> {
        per_tenant(&self.policies, tenant_id, || self.store.policies(tenant_id)).await
    }

    /// One partner of the tenant, or `None`.
    pub async fn partner(&self, tenant_id: &str, id: &str) -> StoreResult<Option<PartnerIdp>> {
        Ok(self
            .partners(tenant_id)
            .await?
            .iter()
            .find(|p| p.id == id)
            .cloned())
    }

    /// The partner of the tenant that `domain` (lower case) routes to, or `None`.
    pub async fn partner_for_domain(
        &self,
        tenant_id: &str,
        domain: &str,
    ) -> StoreResult<Option<PartnerIdp>> {
        Ok(self
            .partners(tenant_id)
            .await?
            .iter()
            .find(|p| p.domains.iter().any(|d| d.domain == domain))
            .cloned())
    }

    fn is_missing(&self, key: &str) -> bool {
        self.missing
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    }

    fn remember_missing(&self, key: String) {
        let mut missing = self.missing.write().unwrap_or_else(|p| p.into_inner());
        if missing.len() >= MAX_MISSING {
            missing.clear();
        }
        missing.insert(key);
    }

    /// The configuration generation this node's cache reflects.
    pub fn generation(&self) -> i64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Drops every cached entry.
    pub fn invalidate(&self) {
        self.tenants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.apps.write().unwrap_or_else(|p| p.into_inner()).clear();
        self.partners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.policies
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.saml_entities
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.missing
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Checks the generation once; if it moved, drops the cache and reloads the key ring.
    pub async fn poll(&self, keys: &KeyRing) -> anyhow::Result<bool> {
        let current = self.store.generation().await?;
        if current == self.generation.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.invalidate();
        keys.reload().await?;
        self.generation.store(current, Ordering::Release);
        Ok(true)
    }
}
