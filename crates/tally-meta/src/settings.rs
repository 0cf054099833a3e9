//! [`SettingsCache`]: every project's pipeline settings and allowed browser
//! origins in memory, so capture (per request) and the processing stage (per
//! batch) read them without a query.
//! Changes made through [`SettingsCache::set`] apply at once in this process;
//! [`SettingsCache::refresh`] (run periodically by the server) picks up changes
//! other processes made to the same metadata store.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tally_core::{
    MetaError, MetadataStore, PipelineSettings, ProjectId, ProjectOptions, ProjectSwitches,
};

pub struct SettingsCache {
    meta: Arc<dyn MetadataStore>,
    current: RwLock<HashMap<ProjectId, PipelineSettings>>,
    /// Projects that restrict browser capture to some origins (none: any).
    origins: RwLock<HashMap<ProjectId, Arc<[String]>>>,
}

impl SettingsCache {
    /// Loads every project's settings.
    pub async fn load(meta: Arc<dyn MetadataStore>) -> Result<Self, MetaError> {
        let cache = Self {
            meta,
            current: RwLock::new(HashMap::new()),
            origins: RwLock::new(HashMap::new()),
        };
        cache.refresh().await?;
        Ok(cache)
    }

    /// Reads every project's settings from the store again.
    pub async fn refresh(&self) -> Result<(), MetaError> {
        let all: HashMap<_, _> = self
            .meta
            .all_pipeline_settings()
            .await?
            .into_iter()
            .collect();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = all;
        let mut origins = HashMap::new();
        for project in self.meta.list_projects().await? {
            let options = match self.meta.project_options(project.id).await {
                Ok(options) => options,
                // Deleted since it was listed.
                Err(MetaError::NotFound) => continue,
                Err(e) => return Err(e),
            };
            if !options.allowed_origins.is_empty() {
                origins.insert(project.id, options.allowed_origins.into());
            }
        }
        *self.origins.write().unwrap_or_else(|p| p.into_inner()) = origins;
        Ok(())
    }

    /// Stores a project's options, then uses its allowed origins.
    pub async fn set_options(
        &self,
        project_id: ProjectId,
        options: &ProjectOptions,
    ) -> Result<(), MetaError> {
        self.meta.set_project_options(project_id, options).await?;
        let mut origins = self.origins.write().unwrap_or_else(|p| p.into_inner());
        if options.allowed_origins.is_empty() {
            origins.remove(&project_id);
        } else {
            origins.insert(project_id, options.allowed_origins.clone().into());
        }
        Ok(())
    }

    /// Whether a capture request from `origin` (its `Origin` header; `None` for
    /// servers and apps, which send none) may write to the project.
    pub fn origin_allowed(&self, project_id: ProjectId, origin: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        let origins = self.origins.read().unwrap_or_else(|p| p.into_inner());
        origins
            .get(&project_id)
            .is_none_or(|allowed| allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)))
    }

    /// Stores new settings, then uses them.
    pub async fn set(
        &self,
        project_id: ProjectId,
        settings: PipelineSettings,
    ) -> Result<(), MetaError> {
        self.meta
            .set_pipeline_settings(project_id, settings)
            .await?;
        self.current
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(project_id, settings);
        Ok(())
    }
}

impl ProjectSwitches for SettingsCache {
    fn pipeline_settings(&self, project_id: ProjectId) -> PipelineSettings {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&project_id)
            .copied()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteMeta;

    #[tokio::test]
    async fn settings_default_change_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        let project = {
            let meta = Arc::new(SqliteMeta::open(&path).await.unwrap());
            let project = meta.create_project("p", None).await.unwrap();
            let other = meta.create_project("q", None).await.unwrap();
            let cache = SettingsCache::load(meta).await.unwrap();
            assert_eq!(
                cache.pipeline_settings(project.id),
                PipelineSettings::default()
            );
            let changed = PipelineSettings {
                drop_bots: true,
                use_ip: false,
            };
            cache.set(project.id, changed).await.unwrap();
            assert_eq!(cache.pipeline_settings(project.id), changed);
            assert_eq!(
                cache.pipeline_settings(other.id),
                PipelineSettings::default()
            );
            assert!(matches!(
                cache.set(9_999, changed).await,
                Err(MetaError::NotFound)
            ));
            project
        };
        let meta = Arc::new(SqliteMeta::open(&path).await.unwrap());
        let cache = SettingsCache::load(meta).await.unwrap();
        assert_eq!(
            cache.pipeline_settings(project.id),
            PipelineSettings {
                drop_bots: true,
                use_ip: false
            }
        );
    }

    #[tokio::test]
    async fn refresh_sees_changes_made_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Arc::new(
            SqliteMeta::open(&dir.path().join("m.sqlite"))
                .await
                .unwrap(),
        );
        let project = meta.create_project("p", None).await.unwrap();
        let cache = SettingsCache::load(meta.clone()).await.unwrap();
        let off = PipelineSettings {
            drop_bots: false,
            use_ip: false,
        };
        meta.set_pipeline_settings(project.id, off).await.unwrap();
        assert!(cache.pipeline_settings(project.id).use_ip, "not yet seen");
        cache.refresh().await.unwrap();
        assert_eq!(cache.pipeline_settings(project.id), off);
    }

    #[tokio::test]
    async fn origins_restrict_only_browsers_of_projects_that_list_them() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Arc::new(
            SqliteMeta::open(&dir.path().join("m.sqlite"))
                .await
                .unwrap(),
        );
        let shop = meta.create_project("shop", None).await.unwrap();
        let open = meta.create_project("open", None).await.unwrap();
        let cache = SettingsCache::load(meta.clone()).await.unwrap();
        assert!(cache.origin_allowed(shop.id, Some("https://evil.example")));
        let options = ProjectOptions {
            allowed_origins: vec!["https://shop.example".into()],
            ..ProjectOptions::default()
        };
        cache.set_options(shop.id, &options).await.unwrap();
        assert!(cache.origin_allowed(shop.id, Some("https://shop.example")));
        assert!(cache.origin_allowed(shop.id, Some("HTTPS://SHOP.EXAMPLE")));
        assert!(!cache.origin_allowed(shop.id, Some("https://evil.example")));
        assert!(!cache.origin_allowed(shop.id, Some("https://shop.example.evil.example")));
        assert!(
            cache.origin_allowed(shop.id, None),
            "no Origin: not a browser"
        );
        assert!(cache.origin_allowed(open.id, Some("https://evil.example")));
        // Another process's cache learns it on refresh.
        let other = SettingsCache::load(meta).await.unwrap();
        assert!(!other.origin_allowed(shop.id, Some("https://evil.example")));
    }
}
