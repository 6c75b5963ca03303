//! Workers KV as a [`KeyValueStore`]. Every failure is `UNAVAILABLE` (fail closed).

use serde_json::Value;

use crate::app::store::{KeyValueStore, ListPage};
use crate::error::Error;

pub struct KvStore {
    kv: worker::kv::KvStore,
    binding: &'static str,
}

impl KvStore {
    pub fn bind(env: &worker::Env, binding: &'static str) -> Result<KvStore, Error> {
        env.kv(binding)
            .map(|kv| KvStore { kv, binding })
            .map_err(|_| Error::Config(format!("the KV namespace binding `{binding}` is missing")))
    }

    /// A failure naming the binding and operation, for the log line.
    fn unavailable(&self, operation: &str) -> impl Fn(worker::kv::KvError) -> Error + '_ {
        let binding = self.binding;
        let operation = operation.to_owned();
        move |error| Error::Unavailable(format!("KV {binding} {operation} failed: {error}"))
    }
}

impl KeyValueStore for KvStore {
    async fn get(&self, name: &str) -> Result<Option<String>, Error> {
        self.kv.get(name).text().await.map_err(self.unavailable("get"))
    }

    async fn get_cached(&self, name: &str, cache_seconds: u64) -> Result<Option<String>, Error> {
        self.kv.get(name).cache_ttl(cache_seconds).text().await.map_err(self.unavailable("get"))
    }

    async fn put(&self, name: &str, value: &str, metadata: Option<Value>) -> Result<(), Error> {
        let mut put = self.kv.put(name, value).map_err(self.unavailable("put"))?;
        if let Some(metadata) = metadata {
            put = put.metadata(metadata).map_err(self.unavailable("put"))?;
        }
        put.execute().await.map_err(self.unavailable("put"))
    }

    async fn delete(&self, name: &str) -> Result<(), Error> {
        self.kv.delete(name).await.map_err(self.unavailable("delete"))
    }

    async fn list(&self, prefix: &str, limit: usize, cursor: Option<&str>) -> Result<ListPage, Error> {
        let mut list = self.kv.list().prefix(prefix.to_owned()).limit(limit as u64);
        if let Some(cursor) = cursor {
            list = list.cursor(cursor.to_owned());
        }
        let page = list.execute().await.map_err(self.unavailable("list"))?;
        let entries = page.keys.into_iter().map(|key| (key.name, key.metadata)).collect();
        let cursor = if page.list_complete { None } else { page.cursor };
        Ok(ListPage { entries, cursor })
    }
}
