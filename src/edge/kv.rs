//! Workers KV as a [`KeyValueStore`]. Every failure is `UNAVAILABLE` (fail closed).

use serde_json::Value;

use crate::app::store::{KeyValueStore, ListPage};
use crate::error::Error;

pub struct KvStore(worker::kv::KvStore);

impl KvStore {
    pub fn bind(env: &worker::Env, binding: &str) -> Result<KvStore, Error> {
        env.kv(binding)
            .map(KvStore)
            .map_err(|_| Error::Config(format!("the KV namespace binding `{binding}` is missing")))
    }
}

fn unavailable(operation: &str, error: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("KV {operation} failed: {error}"))
}

impl KeyValueStore for KvStore {
    async fn get(&self, name: &str) -> Result<Option<String>, Error> {
        self.0.get(name).text().await.map_err(|e| unavailable("get", e))
    }

    async fn get_cached(&self, name: &str, cache_seconds: u64) -> Result<Option<String>, Error> {
        self.0.get(name).cache_ttl(cache_seconds).text().await.map_err(|e| unavailable("get", e))
    }

    async fn put(&self, name: &str, value: &str, metadata: Option<Value>) -> Result<(), Error> {
        let mut put = self.0.put(name, value).map_err(|e| unavailable("put", e))?;
        if let Some(metadata) = metadata {
            put = put.metadata(metadata).map_err(|e| unavailable("put", e))?;
        }
        put.execute().await.map_err(|e| unavailable("put", e))
    }

    async fn delete(&self, name: &str) -> Result<(), Error> {
        self.0.delete(name).await.map_err(|e| unavailable("delete", e))
    }

    async fn list(&self, prefix: &str, limit: usize, cursor: Option<&str>) -> Result<ListPage, Error> {
        let mut list = self.0.list().prefix(prefix.to_owned()).limit(limit as u64);
        if let Some(cursor) = cursor {
            list = list.cursor(cursor.to_owned());
        }
        let page = list.execute().await.map_err(|e| unavailable("list", e))?;
        let entries = page.keys.into_iter().map(|key| (key.name, key.metadata)).collect();
        let cursor = if page.list_complete { None } else { page.cursor };
        Ok(ListPage { entries, cursor })
    }
}
