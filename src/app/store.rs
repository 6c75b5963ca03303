//! The KV data model, over a minimal key-value trait.
//!
//! Layout (the only place it is spelled out):
//! - `k:<sha256 hex>` → [`KeyRecord`] JSON: one read per verification;
//! - `project:<project>` → empty, with `{"keys": n}` as KV metadata: the
//!   projects that have keys, for `GET /v1/projects`;
//! - `p:<project>:<key id>` → the digest hex: written by versions before the
//!   project catalog, read only to find and import such keys, and removed
//!   when their key is next written or deleted.
//!
//! Guarantee: record reads may come from a short-lived in-isolate
//! [`RecordCache`]: safe, because a key's Durable Object, not this copy,
//! decides on every use.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::error::Error;
use crate::ids::{KeyId, ProjectId};
use crate::key::KeyDigest;
use crate::record::{KeyRecord, UnixMillis};

/// One page of a prefix listing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListPage {
    pub entries: Vec<(String, Option<Value>)>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<String>,
}

/// The operations keygate needs from Workers KV. Failures are [`Error::Unavailable`].
#[allow(async_fn_in_trait)]
pub trait KeyValueStore {
    async fn get(&self, name: &str) -> Result<Option<String>, Error>;
    /// A read that may be served from an edge cache up to `cache_seconds` old.
    async fn get_cached(&self, name: &str, _cache_seconds: u64) -> Result<Option<String>, Error> {
        self.get(name).await
    }
    async fn put(&self, name: &str, value: &str, metadata: Option<Value>) -> Result<(), Error>;
    async fn delete(&self, name: &str) -> Result<(), Error>;
    async fn list(&self, prefix: &str, limit: usize, cursor: Option<&str>) -> Result<ListPage, Error>;
}

/// How long KV's edge cache may serve a key record (safe: the Durable Object decides).
pub const RECORD_CACHE_SECONDS: u64 = 60;

/// Records (and misses) by digest, kept briefly in one isolate so a hot key
/// costs no KV read and a flood of made-up keys costs one read per key.
///
/// Guarantee: made-up keys cannot push a hot key out. Misses are bounded
/// apart from records (anyone can make well-formed keys, since the checksum
/// is public), and a full side drops what has expired first, then only the
/// least recently used eighth.
#[derive(Debug)]
pub struct RecordCache {
    found: RefCell<Recent<Rc<KeyRecord>>>,
    missing: RefCell<Recent<()>>,
}

impl RecordCache {
    /// How long a found record is reused.
    pub const HIT_MILLIS: UnixMillis = 30_000;
    /// How long a miss is reused: short, so a key created elsewhere works soon.
    pub const MISS_MILLIS: UnixMillis = 5_000;

    /// Up to `capacity` records and, apart from them, up to `capacity` misses.
    pub fn new(capacity: usize) -> RecordCache {
        RecordCache { found: RefCell::new(Recent::new(capacity)), missing: RefCell::new(Recent::new(capacity)) }
    }

    /// `Some(found)` when a fresh entry exists; a record is shared, not copied.
    pub fn get(&self, digest: &KeyDigest, now: UnixMillis) -> Option<Option<Rc<KeyRecord>>> {
        if let Some(record) = self.found.borrow_mut().get(digest, now) {
            return Some(Some(Rc::clone(record)));
        }
        self.missing.borrow_mut().get(digest, now).map(|()| None)
    }

    pub fn put(&self, digest: KeyDigest, record: Option<Rc<KeyRecord>>, now: UnixMillis) {
        match record {
            Some(record) => self.found.borrow_mut().put(digest, record, now, now + Self::HIT_MILLIS),
            None => self.missing.borrow_mut().put(digest, (), now, now + Self::MISS_MILLIS),
        }
    }

    pub fn forget(&self, digest: &KeyDigest) {
        self.found.borrow_mut().entries.remove(digest);
        self.missing.borrow_mut().entries.remove(digest);
    }
}

/// Entries that expire, evicted least recently used first when full.
#[derive(Debug)]
struct Recent<T> {
    entries: HashMap<KeyDigest, Slot<T>>,
    capacity: usize,
    /// Counts uses; a slot's `used` is the count at its last use.
    uses: u64,
}

#[derive(Debug)]
struct Slot<T> {
    value: T,
    expires: UnixMillis,
    used: u64,
}

impl<T> Recent<T> {
    fn new(capacity: usize) -> Recent<T> {
        Recent { entries: HashMap::new(), capacity: capacity.max(1), uses: 0 }
    }

    fn get(&mut self, digest: &KeyDigest, now: UnixMillis) -> Option<&T> {
        self.uses += 1;
        let slot = self.entries.get_mut(digest).filter(|slot| now < slot.expires)?;
        slot.used = self.uses;
        Some(&slot.value)
    }

    fn put(&mut self, digest: KeyDigest, value: T, now: UnixMillis, expires: UnixMillis) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&digest) {
            self.evict(now);
        }
        self.uses += 1;
        self.entries.insert(digest, Slot { value, expires, used: self.uses });
    }

    /// Makes room for an eighth of the capacity at once, so eviction costs
    /// O(1) per insert over time: the expired first, then the coldest.
    fn evict(&mut self, now: UnixMillis) {
        self.entries.retain(|_, slot| now < slot.expires);
        let target = self.capacity - self.capacity.div_ceil(8);
        if self.entries.len() > target {
            let mut used: Vec<u64> = self.entries.values().map(|slot| slot.used).collect();
            let cut = used.len() - target - 1;
            let (_, threshold, _) = used.select_nth_unstable(cut);
            let threshold = *threshold;
            self.entries.retain(|_, slot| slot.used > threshold);
        }
    }
}

/// Keys as stored: records by digest, pointers by project and id.
pub struct KeyStore<S> {
    kv: S,
    cache: Option<Rc<RecordCache>>,
}

impl<S: KeyValueStore> KeyStore<S> {
    pub fn new(kv: S) -> KeyStore<S> {
        KeyStore { kv, cache: None }
    }

    /// Record reads go through `cache` (one per isolate).
    pub fn with_cache(kv: S, cache: Rc<RecordCache>) -> KeyStore<S> {
        KeyStore { kv, cache: Some(cache) }
    }

    /// The record of a presented key, by its digest: the isolate cache, else KV (edge-cached).
    pub async fn get(&self, digest: &KeyDigest, now: UnixMillis) -> Result<Option<Rc<KeyRecord>>, Error> {
        if let Some(found) = self.cache.as_ref().and_then(|cache| cache.get(digest, now)) {
            return Ok(found);
        }
        let record = match self.kv.get_cached(&digest.storage_key(), RECORD_CACHE_SECONDS).await? {
            None => None,
            Some(json) => Some(Rc::new(parse_record(&json)?)),
        };
        if let Some(cache) = &self.cache {
            cache.put(*digest, record.clone(), now);
        }
        Ok(record)
    }

    /// A key written before the catalog, by its pointer: the digest hex and
    /// the record KV holds under it (`None` when a deletion removed it but not
    /// the pointer); `None` when there is no pointer.
    pub async fn find_legacy(
        &self,
        project: &ProjectId,
        id: &KeyId,
    ) -> Result<Option<(String, Option<KeyRecord>)>, Error> {
        let Some(digest_hex) = self.kv.get(&pointer_name(project, id)).await? else { return Ok(None) };
        let record = self.read_record(&record_name(&digest_hex)).await?;
        // A record of another project under this pointer would be corruption: never show it.
        Ok(Some((digest_hex, record.filter(|r| &r.project == project && &r.id == id))))
    }

    /// Writes the record.
    pub async fn save(&self, digest_hex: &str, record: &KeyRecord) -> Result<(), Error> {
        self.forget(digest_hex);
        let json = serde_json::to_string(record).map_err(|e| Error::Unavailable(e.to_string()))?;
        self.kv.put(&record_name(digest_hex), &json, None).await
    }

    /// The record KV still holds under `digest_hex`, if any.
    pub async fn record_at(&self, digest_hex: &str) -> Result<Option<KeyRecord>, Error> {
        self.read_record(&record_name(digest_hex)).await
    }

    /// Removes a key's pointer, once its object holds the key.
    pub async fn drop_pointer(&self, project: &ProjectId, id: &KeyId) -> Result<(), Error> {
        self.kv.delete(&pointer_name(project, id)).await
    }

    /// Deletes the record (the key stops working), and any pointer.
    pub async fn remove(&self, digest_hex: Option<&str>, project: &ProjectId, id: &KeyId) -> Result<(), Error> {
        if let Some(digest_hex) = digest_hex {
            self.forget(digest_hex);
            self.kv.delete(&record_name(digest_hex)).await?;
        }
        self.drop_pointer(project, id).await
    }

    /// The records of up to `count` of a project's pointers (keys written
    /// before the catalog) from `cursor` on, and where the next batch starts.
    pub async fn legacy_records(
        &self,
        project: &ProjectId,
        count: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<KeyRecord>, Option<String>), Error> {
        let page = self.kv.list(&format!("p:{project}:"), count, cursor).await?;
        let mut records = Vec::new();
        for (name, _) in &page.entries {
            let Some(digest_hex) = self.kv.get(name).await? else { continue };
            let record = self.read_record(&record_name(&digest_hex)).await?;
            records.extend(record.filter(|record| &record.project == project));
        }
        Ok((records, page.cursor))
    }

    /// Records that `project` has `keys` live keys (none: it leaves the directory).
    pub async fn set_project_keys(&self, project: &ProjectId, keys: u64) -> Result<(), Error> {
        let name = format!("project:{project}");
        match keys {
            0 => self.kv.delete(&name).await,
            _ => self.kv.put(&name, "", Some(json!({ "keys": keys }))).await,
        }
    }

    /// A page of the projects that have keys, by id: `(id, keys)`.
    pub async fn projects(
        &self,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<(String, u64)>, Option<String>), Error> {
        let kv_cursor = cursor.map(open_cursor).transpose()?;
        let page = self.kv.list("project:", limit, kv_cursor.as_deref()).await?;
        let projects = page
            .entries
            .into_iter()
            .filter_map(|(name, metadata)| {
                let id = name.strip_prefix("project:")?.to_owned();
                Some((id, metadata?.get("keys")?.as_u64()?))
            })
            .collect();
        Ok((projects, page.cursor.map(|c| seal_cursor(&c))))
    }

    async fn read_record(&self, name: &str) -> Result<Option<KeyRecord>, Error> {
        self.kv.get(name).await?.map(|json| parse_record(&json)).transpose()
    }

    /// Drops a cached copy this isolate holds (the next read goes to KV).
    fn forget(&self, digest_hex: &str) {
        if let (Some(cache), Some(digest)) = (&self.cache, KeyDigest::from_hex(digest_hex)) {
            cache.forget(&digest);
        }
    }
}

fn parse_record(json: &str) -> Result<KeyRecord, Error> {
    serde_json::from_str(json).map_err(|e| Error::Unavailable(format!("corrupt key record: {e}")))
}

fn record_name(digest_hex: &str) -> String {
    format!("k:{digest_hex}")
}

fn pointer_name(project: &ProjectId, id: &KeyId) -> String {
    format!("p:{project}:{id}")
}

/// Our cursor is KV's behind a CRC32, so garbage is a 400 rather than a storage error.
fn seal_cursor(kv_cursor: &str) -> String {
    let mut bytes = crc32fast::hash(kv_cursor.as_bytes()).to_be_bytes().to_vec();
    bytes.extend_from_slice(kv_cursor.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn open_cursor(cursor: &str) -> Result<String, Error> {
    let invalid = || Error::validation("cursor", "Not a cursor this list returned.");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    if bytes.len() < 5 {
        return Err(invalid());
    }
    let (check, kv_cursor) = bytes.split_at(4);
    let kv_cursor = String::from_utf8(kv_cursor.to_vec()).map_err(|_| invalid())?;
    if check != crc32fast::hash(kv_cursor.as_bytes()).to_be_bytes() {
        return Err(invalid());
    }
    Ok(kv_cursor)
}

impl<T: KeyValueStore> KeyValueStore for &T {
    async fn get(&self, name: &str) -> Result<Option<String>, Error> {
        (**self).get(name).await
    }
    async fn get_cached(&self, name: &str, cache_seconds: u64) -> Result<Option<String>, Error> {
        (**self).get_cached(name, cache_seconds).await
    }
    async fn put(&self, name: &str, value: &str, metadata: Option<Value>) -> Result<(), Error> {
        (**self).put(name, value, metadata).await
    }
    async fn delete(&self, name: &str) -> Result<(), Error> {
        (**self).delete(name).await
    }
    async fn list(&self, prefix: &str, limit: usize, cursor: Option<&str>) -> Result<ListPage, Error> {
        (**self).list(prefix, limit, cursor).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u32) -> KeyDigest {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        KeyDigest::from_hex(&hex::encode(bytes)).unwrap()
    }

    #[test]
    fn the_record_cache_expires_hits_and_misses_and_stays_bounded() {
        let cache = RecordCache::new(2);
        cache.put(digest(1), None, 0);
        assert_eq!(cache.get(&digest(1), RecordCache::MISS_MILLIS - 1), Some(None));
        assert_eq!(cache.get(&digest(1), RecordCache::MISS_MILLIS), None);
        cache.put(digest(2), None, 0);
        cache.put(digest(3), None, 10);
        assert!(cache.missing.borrow().entries.len() <= 2);
        cache.forget(&digest(3));
        assert_eq!(cache.get(&digest(3), 11), None);
    }

    /// Reproducer: 10,000 made-up keys used to clear the whole cache, hot keys included.
    #[test]
    fn a_flood_of_made_up_keys_never_evicts_a_hot_record() {
        let cache = RecordCache::new(100);
        let hot = crate::keystate::tests::record(&["bots:read"]);
        cache.put(digest(0), Some(Rc::new(hot.clone())), 0);
        for n in 1..20_000 {
            cache.put(digest(n), None, 1);
        }
        assert_eq!(cache.get(&digest(0), 2), Some(Some(Rc::new(hot))));
        assert!(cache.missing.borrow().entries.len() <= 100);
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used_records() {
        let cache = RecordCache::new(8);
        let record = Rc::new(crate::keystate::tests::record(&[]));
        for n in 0..8 {
            cache.put(digest(n), Some(record.clone()), 0);
        }
        // Key 0 is used again, so key 1 is now the coldest.
        assert!(cache.get(&digest(0), 1).is_some());
        cache.put(digest(8), Some(record.clone()), 1);
        assert!(cache.get(&digest(0), 2).is_some(), "recently used stays");
        assert!(cache.get(&digest(1), 2).is_none(), "the coldest went");
        assert!(cache.get(&digest(8), 2).is_some());
        assert!(cache.found.borrow().entries.len() <= 8);
    }

    #[test]
    fn cursors_open_only_as_sealed() {
        let sealed = seal_cursor("project:alpha");
        assert_eq!(open_cursor(&sealed).unwrap(), "project:alpha");
        for garbage in ["", "x", "!!!!", "AAAAAAAA", &sealed[..sealed.len() - 1]] {
            assert_eq!(open_cursor(garbage).unwrap_err().code(), "VALIDATION_ERROR", "{garbage}");
        }
    }
}
