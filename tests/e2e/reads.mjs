// The admin API's reads that the control-plane tests share: a GET that must
// answer 200, and every item of a paged list, its cursors followed to the end.
import assert from "node:assert/strict";
import { root } from "./fixture.mjs";

/** `ok` and `collect` against `worker()`: a getter, for a worker started in `before`. */
export function reads(worker) {
  /** GETs `path` and expects 200; answers the body. */
  async function ok(path, headers = root) {
    const answer = await worker().call("GET", path, { headers });
    assert.equal(answer.status, 200, `GET ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  /** Every item of a paged list (`field` of each page), following cursors to the end. */
  async function collect(path, field, params = {}, headers = root) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < 50; page++) {
      const query = new URLSearchParams({ ...params, ...(cursor === null ? {} : { cursor }) });
      const body = await ok(`${path}?${query}`, headers);
      assert.ok(Array.isArray(body[field]), `${path}: ${JSON.stringify(body)}`);
      items.push(...body[field]);
      cursor = body.cursor;
      if (cursor === null) return items;
      assert.equal(typeof cursor, "string");
    }
    assert.fail(`${path}: the cursor never came to an end`);
  }

  return { ok, collect };
}
