// Recoverable keys (#17, the vault) in real SQLite Durable Objects and KV,
// persisted to a temporary directory: revealed to the admin token only,
// refused to a keys:write key, audited, gone after delete; the plaintext of a
// recoverable key is in no byte of the persisted KV and object files, while
// its sealed form there opens with Node's own AES-256-GCM (an implementation
// keygate did not write). A redeployment without, or with another, VAULT_KEY
// answers 503 VAULT_UNAVAILABLE; a malformed one is a CONFIG_ERROR that does
// not repeat it. No log line of any of those deployments holds a secret.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { createDecipheriv, randomBytes } from "node:crypto";
import { startWorker, temporaryDirectory, eventually, ADMIN_TOKEN } from "./fixture.mjs";

const VAULT_KEY = randomBytes(32).toString("base64");
const root = { authorization: `Bearer ${ADMIN_TOKEN}` };
const storage = temporaryDirectory();
/** Every line the worker logged, in every deployment below. */
const logs = [];
let worker;
before(async () => {
  worker = await startWorker({ vars: { VAULT_KEY }, persistTo: storage.dir, logs });
});
after(async () => {
  await worker?.stop();
  storage.remove();
});

const reveal = (key, headers = root) =>
  worker.call("POST", `/v1/projects/vault/keys/${key.id}/reveal`, { headers });

/** Every file under `dir`, recursively. */
function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

/** The spellings of `secret` a store could hold. */
const spellings = (secret) => [
  secret,
  Buffer.from(secret).toString("base64"),
  Buffer.from(secret).toString("base64url"),
  Buffer.from(secret).toString("hex"),
];

/** Opens a sealed form `v1.<vault key id>.<base64url(nonce ‖ ciphertext ‖ tag)>` with node:crypto. */
function open(sealed, keyId) {
  const bytes = Buffer.from(sealed.split(".")[2], "base64url");
  const decipher = createDecipheriv("aes-256-gcm", Buffer.from(VAULT_KEY, "base64"), bytes.subarray(0, 12));
  decipher.setAAD(Buffer.from(keyId));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString();
}

const kept = {};

test("the admin token reveals a recoverable key's secret, with no-store, and the reveal is audited", async () => {
  kept.key = await worker.createKey("vault", { name: "kept", recoverable: true });
  assert.equal(kept.key.recoverable, true);
  const shown = await worker.call("GET", `/v1/projects/vault/keys/${kept.key.id}`, { headers: root });
  assert.equal(shown.body.recoverable, true);
  assert.equal(shown.body.key, undefined);

  const revealed = await reveal(kept.key);
  assert.equal(revealed.status, 200, JSON.stringify(revealed.body));
  assert.deepEqual(revealed.body, { key: kept.key.key });
  assert.equal(revealed.headers.get("cache-control"), "no-store");

  const events = await eventually(async () => {
    const audit = await worker.call("GET", "/v1/projects/vault/audit?action=key.revealed", { headers: root });
    assert.equal(audit.body.events.length, 1);
    return audit.body.events;
  });
  assert.equal(events[0].key_id, kept.key.id);
  assert.deepEqual(events[0].actor, { type: "admin_token" });
  assert.ok(!JSON.stringify(events).includes(kept.key.key));
});

test("a keys:write key may create a recoverable key but never reveal one (403)", async () => {
  const writer = await worker.createKey("vault", { name: "writer", scopes: ["keys:write", "keys:read"] });
  const made = await worker.createKey("vault", { name: "made", recoverable: true }, { "x-api-key": writer.key });
  assert.equal(made.recoverable, true);
  for (const key of [kept.key, made]) {
    for (const headers of [{ "x-api-key": writer.key }, { authorization: `Bearer ${writer.key}` }]) {
      const refused = await reveal(key, headers);
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error.code, "INSUFFICIENT_PERMISSIONS");
      assert.ok(!JSON.stringify(refused.body).includes(key.key));
    }
  }
  const patched = await worker.call("PATCH", `/v1/projects/vault/keys/${made.id}`, {
    headers: root,
    json: { recoverable: false },
  });
  assert.equal(patched.status, 400);
  assert.equal(patched.body.error.field, "recoverable");
});

test("a key created without recoverable is 409; a deleted one is 404 and its secret is gone", async () => {
  const plain = await worker.createKey("vault", { name: "plain" });
  assert.equal(plain.recoverable, false);
  const refused = await reveal(plain);
  assert.equal(refused.status, 409);
  assert.equal(refused.body.error.code, "KEY_NOT_RECOVERABLE");

  kept.deleted = await worker.createKey("vault", { name: "deleted", recoverable: true });
  assert.equal((await reveal(kept.deleted)).status, 200);
  const deleted = await worker.call("DELETE", `/v1/projects/vault/keys/${kept.deleted.id}`, { headers: root });
  assert.equal(deleted.status, 204);
  const gone = await reveal(kept.deleted);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.error.code, "KEY_NOT_FOUND");
});

test("no KV value holds a recoverable key's plaintext or its sealed form", async () => {
  const { keys } = await worker.kv.list();
  assert.ok(keys.length > 0);
  for (const { name } of keys) {
    const value = `${name} ${(await worker.kv.get(name)) ?? ""} ${JSON.stringify((await worker.kv.getWithMetadata(name)).metadata)}`;
    for (const secret of [kept.key.key, kept.deleted.key]) {
      for (const spelling of spellings(secret)) assert.ok(!value.includes(spelling), `KV ${name}`);
    }
    assert.ok(!/v1\.[0-9a-f]{8}\./.test(value), `KV ${name} holds a sealed secret`);
  }
});

test("no persisted file holds the plaintext; the sealed form there opens with node:crypto", async () => {
  await worker.stop();
  const all = files(storage.dir);
  assert.ok(all.some((path) => path.endsWith(".sqlite")), all.join("\n"));
  const sealed = new Set();
  for (const path of all) {
    const bytes = readFileSync(path);
    for (const secret of [kept.key.key, kept.deleted.key]) {
      for (const spelling of spellings(secret)) {
        assert.equal(bytes.indexOf(Buffer.from(spelling)), -1, `${path} holds the plaintext`);
      }
    }
    for (const match of bytes.toString("latin1").matchAll(/v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{40,}/g)) sealed.add(match[0]);
  }
  // A positive control: the files read are the ones the key's object wrote.
  const opened = [...sealed].map((form) => {
    try {
      return open(form, kept.key.id);
    } catch {
      return null;
    }
  });
  assert.ok(opened.includes(kept.key.key), `the sealed secret was not found in ${all.length} files`);
  worker = await startWorker({ persistTo: storage.dir, logs });
});

test("a redeployment without or with another VAULT_KEY answers 503 VAULT_UNAVAILABLE, a malformed one 500", async () => {
  const refused = await reveal(kept.key);
  assert.equal(refused.status, 503);
  assert.equal(refused.body.error.code, "VAULT_UNAVAILABLE");
  assert.match(refused.body.error.message, /VAULT_KEY is not set/);
  await worker.stop();

  worker = await startWorker({ vars: { VAULT_KEY: randomBytes(32).toString("base64") }, persistTo: storage.dir, logs });
  const replaced = await reveal(kept.key);
  assert.equal(replaced.status, 503);
  assert.equal(replaced.body.error.code, "VAULT_UNAVAILABLE");
  assert.ok(!/v1\.[0-9a-f]{8}\./.test(JSON.stringify(replaced.body)));
  await worker.stop();

  const malformed = randomBytes(20).toString("base64");
  worker = await startWorker({ vars: { VAULT_KEY: malformed }, persistTo: storage.dir, logs });
  const broken = await reveal(kept.key);
  assert.equal(broken.status, 500);
  assert.equal(broken.body.error.code, "CONFIG_ERROR");
  assert.match(broken.body.error.message, /VAULT_KEY/);
  assert.ok(!JSON.stringify(broken.body).includes(malformed));
  kept.malformed = malformed;
  await worker.stop();

  // Rotated: a new vault key first, the old one kept: the secret opens again.
  const rotated = JSON.stringify([randomBytes(32).toString("base64"), VAULT_KEY]);
  worker = await startWorker({ vars: { VAULT_KEY: rotated }, persistTo: storage.dir, logs });
  const again = await reveal(kept.key);
  assert.equal(again.status, 200);
  assert.equal(again.body.key, kept.key.key);
});

test("no log line holds a recoverable key's plaintext, its sealed form or a VAULT_KEY", async () => {
  const text = logs.join("");
  assert.match(text, /\/reveal/, "the worker's log lines were read");
  for (const secret of [kept.key.key, kept.deleted.key]) {
    for (const spelling of spellings(secret)) assert.ok(!text.includes(spelling), "a plaintext in the log");
  }
  assert.ok(!/v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{20,}/.test(text), "a sealed secret in the log");
  for (const vaultKey of [VAULT_KEY, kept.malformed]) assert.ok(!text.includes(vaultKey), "a VAULT_KEY in the log");
});
