// BatchSender: buffer beacons and send them in batches (POST /beacons).

import { RTTError } from "./errors.js";
import { ensureEventId } from "./eventid.js";

function merge(parts, attempts) {
  const results = [];
  for (const p of parts) for (const it of p.results) results.push({ ...it, index: results.length });
  const r = { status: "ok", accepted: 0, duplicates: 0, rejected: 0, unavailable: 0, failed: 0, attempts, results };
  for (const p of parts) {
    for (const k of ["accepted", "duplicates", "rejected", "unavailable", "failed"]) r[k] += p[k] ?? 0;
  }
  if (r.accepted < results.length) r.status = r.accepted > 0 ? "partial" : "error";
  return r;
}

/**
 * BatchSender buffers beacons and sends them with client.beacons(): when
 * `maxItems` (500) are buffered, or `flushMs` (1000) after the first beacon
 * of a batch was added, whichever comes first. Batches are sent one at a
 * time, in order. Each beacon gets its event_id when added, so a beacon
 * added again after a failure is stored once.
 *
 * Results of flushes nobody awaits go to `onResult`, their errors to
 * `onError` (else the client's onError, else console.warn). An error's
 * `result` lists every item with its event_id and status, so unstored
 * items can be added again. At most `maxBuffered` (100000) beacons wait;
 * add() throws beyond that. The timer is unref'd.
 */
export class BatchSender {
  #client;
  #buf = [];
  #timer = null;
  #chain = Promise.resolve();
  #closed = false;

  constructor(client, { maxItems = 500, flushMs = 1000, maxBuffered = 100000, onResult, onError } = {}) {
    if (!client || typeof client.beacons !== "function") throw new TypeError("BatchSender: needs an RTTClient");
    if (!(maxItems >= 1)) throw new TypeError("BatchSender: maxItems must be >= 1");
    if (!(flushMs > 0)) throw new TypeError("BatchSender: flushMs must be > 0");
    this.#client = client;
    this.maxItems = Math.floor(maxItems);
    this.flushMs = flushMs;
    this.maxBuffered = maxBuffered;
    this.onResult = onResult;
    this.onError = onError;
  }

  /** size is the number of beacons waiting to be sent. */
  get size() {
    return this.#buf.length;
  }

  /**
   * add buffers a beacon and returns its event_id. It throws a TypeError for
   * a payload that is not a JSON object, an RTTError after close() or when
   * the buffer is full.
   */
  add(payload) {
    if (this.#closed) throw new RTTError("rtt: BatchSender is closed");
    if (this.#buf.length >= this.maxBuffered) throw new RTTError(`rtt: BatchSender buffer full (${this.maxBuffered} beacons waiting)`);
    const { wire, eventId } = ensureEventId(payload);
    this.#buf.push(wire);
    if (this.#buf.length >= this.maxItems) {
      this.#background();
    } else if (this.#timer === null) {
      this.#timer = setTimeout(() => this.#background(), this.flushMs);
      this.#timer.unref?.();
    }
    return eventId;
  }

  // A flush nobody awaits: its outcome goes to onResult / onError.
  #background() {
    this.flush().then(
      (result) => {
        if (result.results.length > 0 && typeof this.onResult === "function") this.onResult(result);
      },
      (err) => this.#client.reportError(err, this.onError ?? this.#client.onError),
    );
  }

  /**
   * flush sends everything buffered now, in batches of maxItems, after the
   * batches already under way. It resolves with the merged result (as
   * client.beacons(), indexes counting the flushed items in order) and
   * rejects with the first batch's error after trying every batch; the
   * error's `result` is the merged result.
   */
  flush() {
    clearTimeout(this.#timer);
    this.#timer = null;
    const items = this.#buf.splice(0);
    const run = this.#chain.then(() => this.#send(items));
    this.#chain = run.catch(() => {});
    return run;
  }

  async #send(items) {
    const parts = [];
    let firstErr;
    let attempts = 0;
    for (let k = 0; k < items.length; k += this.maxItems) {
      const chunk = items.slice(k, k + this.maxItems);
      try {
        const r = await this.#client.beacons(chunk);
        parts.push(r);
        attempts += r.attempts;
      } catch (err) {
        firstErr ??= err;
        if (err?.result) {
          parts.push(err.result);
          attempts += err.result.attempts;
        } else {
          parts.push(merge([{ results: chunk.map((w) => ({ status: "failed", event_id: w.event_id, error: String(err?.message ?? err) })), failed: chunk.length }], 0));
        }
      }
    }
    const result = merge(parts, attempts);
    if (firstErr) {
      try {
        firstErr.result = result;
      } catch {
        // a frozen error keeps its own result
      }
      throw firstErr;
    }
    return result;
  }

  /**
   * close stops the timer, sends what is buffered and waits for every batch
   * under way; add() throws afterwards. Resolves with the last flush's
   * result; rejects like flush().
   */
  async close() {
    this.#closed = true;
    return this.flush();
  }
}
