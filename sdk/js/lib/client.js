// RTTClient: the HTTP client of the rtt API (/api/rtt).

import { RTTError, RTTHTTPError, RTTValidationError, RTTUnavailableError, RTTTimeoutError } from "./errors.js";
import { ensureEventId } from "./eventid.js";
import { BatchSender } from "./batch.js";
import { startHeartbeat } from "./heartbeat.js";

/** DEFAULT_BASE_URL is the API's base URL when neither options.baseUrl nor RTT_URL names one. */
export const DEFAULT_BASE_URL = "http://127.0.0.1:8080/api/rtt";

/** Statuses after which the same request may succeed: sent again with backoff. */
const RETRYABLE = new Set([429, 502, 503, 504]);

/** Longest Retry-After the client honours; longer asks are cut to this. */
const MAX_RETRY_AFTER_MS = 60_000;

const env = (name) => globalThis.process?.env?.[name];

/**
 * parseRetryAfter returns the wait a Retry-After header asks for, in ms
 * (delay-seconds or an HTTP date), or undefined when absent or unusable.
 */
export function parseRetryAfter(value, now = Date.now()) {
  if (value == null) return undefined;
  const v = String(value).trim();
  if (v === "") return undefined;
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, MAX_RETRY_AFTER_MS);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.min(Math.max(t - now, 0), MAX_RETRY_AFTER_MS);
}

function parseJSON(text) {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** httpError turns a non-2xx answer into an RTTHTTPError (RTTValidationError for 400). */
function httpError(method, path, ans) {
  const body = parseJSON(ans.text);
  let kind = "";
  let message = "";
  let violations = [];
  if (body && typeof body === "object" && (body.error || body.message)) {
    kind = typeof body.error === "string" ? body.error : "";
    message = typeof body.message === "string" ? body.message : "";
    if (Array.isArray(body.violations)) violations = body.violations;
  } else {
    message = ans.text.trim().slice(0, 256) || `HTTP ${ans.status}`;
  }
  const init = {
    method,
    path,
    status: ans.status,
    kind,
    message,
    violations,
    body,
    retryAfterMs: parseRetryAfter(ans.headers.get("retry-after")),
  };
  return ans.status === 400 ? new RTTValidationError(init) : new RTTHTTPError(init);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Transient marks a failed attempt that may pass when sent again. */
class Transient {
  constructor(error, { timeout = false } = {}) {
    this.error = error;
    this.timeout = timeout;
  }
}

function countResults(results, attempts) {
  const r = { status: "ok", accepted: 0, duplicates: 0, rejected: 0, unavailable: 0, failed: 0, attempts, results };
  for (const it of results) {
    if (it.status === "ok") {
      r.accepted++;
      if (it.duplicate) r.duplicates++;
    } else if (it.status === "invalid") r.rejected++;
    else if (it.status === "unavailable") r.unavailable++;
    else r.failed++;
  }
  if (r.accepted < results.length) r.status = r.accepted > 0 ? "partial" : "error";
  return r;
}

/**
 * RTTClient talks to one rtt API. Every method is async and uses the global
 * fetch (Node 18+). Failed attempts that may pass later (HTTP 429, 502, 503,
 * 504, network errors, timeouts) are retried up to `retries` times with
 * exponential backoff and jitter, or after the wait the server asks for in
 * Retry-After; beacons get their event_id before the first attempt, so a
 * retry never stores one twice. Errors are RTTError subclasses (see
 * errors.js). One client may be used by many concurrent calls.
 */
export class RTTClient {
  #fetch;

  /**
   * @param {object} [options]
   * @param {string} [options.baseUrl]   API base URL; default RTT_URL, else http://127.0.0.1:8080/api/rtt
   * @param {string} [options.token]     bearer token; default RTT_TOKEN; "" sends none
   * @param {number} [options.timeoutMs] bound of each attempt, answer included (10000; 0 = none)
   * @param {number} [options.retries]   attempts after the first (5; 0 = no retries)
   * @param {number} [options.backoffMs] wait before the first retry (100); doubles per retry, half of it jitter
   * @param {number} [options.maxBackoffMs] cap of the computed backoff (5000)
   * @param {boolean} [options.log]      log "[RTT] <event> sent" and retries to the logger (default: only when a logger is given)
   * @param {object} [options.logger]    where logs go (console); giving one turns logging on unless log is false
   * @param {function} [options.onError] receives errors of background work (heartbeats, batch flushes)
   * @param {function} [options.fetch]   fetch implementation (globalThis.fetch)
   */
  constructor({
    baseUrl,
    token,
    timeoutMs = 10000,
    retries = 5,
    backoffMs = 100,
    maxBackoffMs = 5000,
    log,
    logger,
    onError,
    fetch: fetchImpl,
  } = {}) {
    const base = baseUrl || env("RTT_URL") || DEFAULT_BASE_URL;
    let url;
    try {
      url = new URL(base);
    } catch {
      throw new RTTError(`rtt: base URL ${JSON.stringify(base)} is not a URL (e.g. http://127.0.0.1:8080/api/rtt)`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new RTTError(`rtt: base URL ${JSON.stringify(base)} must be http or https`);
    }
    for (const [name, v] of Object.entries({ timeoutMs, retries, backoffMs, maxBackoffMs })) {
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new RTTError(`rtt: option ${name} must be a number >= 0, got ${v}`);
    }
    this.baseUrl = base.replace(/\/+$/, "");
    this.token = token ?? env("RTT_TOKEN") ?? "";
    this.timeoutMs = timeoutMs;
    this.retries = Math.floor(retries);
    this.backoffMs = backoffMs;
    this.maxBackoffMs = maxBackoffMs;
    this.logger = logger ?? console;
    this.log = log ?? Boolean(logger);
    this.onError = onError;
    this.#fetch = fetchImpl ?? globalThis.fetch;
    if (typeof this.#fetch !== "function") throw new RTTError("rtt: no global fetch; use Node 18 or later, or pass options.fetch");
  }

  #logInfo(msg) {
    if (this.log) this.logger.info?.(msg);
  }

  #logWarn(msg) {
    if (this.log) (this.logger.warn ?? this.logger.info)?.call(this.logger, msg);
  }

  /** backoff returns the wait after failed attempt n (1-based): backoffMs·2^(n-1), capped, half of it random. */
  backoff(n) {
    const d = Math.min(this.backoffMs * 2 ** (n - 1), this.maxBackoffMs);
    return d / 2 + Math.random() * (d / 2);
  }

  /**
   * One HTTP attempt. Returns {status, headers, text} for any answer, or a
   * Transient for a network failure or a timeout. A caller's abort rejects
   * with the signal's reason.
   */
  async #attempt(method, path, body, signal) {
    const ctrl = new AbortController();
    let timedOut = false;
    const timer = this.timeoutMs > 0 ? setTimeout(() => ((timedOut = true), ctrl.abort()), this.timeoutMs) : undefined;
    const onAbort = () => ctrl.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const headers = { Accept: "application/json", "User-Agent": "rtt-sdk-js" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    try {
      if (signal?.aborted) throw signal.reason;
      const res = await this.#fetch(this.baseUrl + path, { method, headers, body, signal: ctrl.signal });
      const text = await res.text();
      return { status: res.status, headers: res.headers, text };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (timedOut) {
        return new Transient(new RTTTimeoutError(`rtt: ${method} ${path}: no answer within ${this.timeoutMs} ms`, { cause: err }), { timeout: true });
      }
      const code = err?.cause?.code ? ` (${err.cause.code})` : "";
      return new Transient(new RTTError(`rtt: ${method} ${path}: ${err?.cause?.message ?? err?.message ?? err}${code}`, { cause: err }));
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** giveUp is the error after the last failed attempt. */
  #giveUp(method, path, attempts, last, result) {
    const init = { attempts, cause: last instanceof Transient ? last.error : last, result };
    if (last instanceof Transient) {
      const what = `rtt: ${method} ${path}: unavailable after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${last.error.message}`;
      return last.timeout ? new RTTTimeoutError(what, init) : new RTTUnavailableError(what, init);
    }
    const msg = `rtt: ${method} ${path}: unavailable after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${last.status}${last.kind ? " " + last.kind : ""}: ${last.message}`;
    return new RTTUnavailableError(msg, { ...init, status: last.status, kind: last.kind });
  }

  async #pause(method, path, attempt, waitMs, why, signal) {
    const d = waitMs > 0 ? waitMs : this.backoff(attempt);
    this.#logWarn(`[RTT] ${method} ${path}: ${why}; retry ${attempt} of ${this.retries} in ${Math.round(d)} ms`);
    await sleep(d, signal);
  }

  /** request sends one request with retries and returns the parsed JSON of the 2xx answer. */
  async #request(method, path, body, signal) {
    for (let attempt = 1; ; attempt++) {
      const r = await this.#attempt(method, path, body, signal);
      let last;
      let wait = 0;
      if (r instanceof Transient) {
        last = r;
      } else if (r.status >= 200 && r.status < 300) {
        const v = parseJSON(r.text);
        if (v === undefined) throw new RTTError(`rtt: ${method} ${path}: answer ${r.status} is not JSON: ${r.text.slice(0, 200)}`);
        return v;
      } else {
        const err = httpError(method, path, r);
        if (!RETRYABLE.has(r.status)) throw err;
        last = err;
        wait = err.retryAfterMs ?? 0;
      }
      if (attempt > this.retries) throw this.#giveUp(method, path, attempt, last);
      const why = last instanceof Transient ? last.error.message : `${last.status} ${last.kind || ""}`.trim();
      await this.#pause(method, path, attempt, wait, why, signal);
    }
  }

  /**
   * beacon sends one beacon (POST /beacon) and resolves with the server's
   * answer {status: "ok", event_id, duplicate, seq}. A payload without
   * event_id gets one before the first attempt (the id the server would
   * derive; see eventid.js), so retries and re-sends are recognised as
   * duplicates. The payload object is not modified.
   * @throws {RTTValidationError} 400: the payload is invalid (violations name the fields)
   * @throws {RTTUnavailableError} not stored after every attempt
   */
  async beacon(payload, { signal } = {}) {
    const { wire } = ensureEventId(payload);
    const ans = await this.#request("POST", "/beacon", JSON.stringify(wire), signal);
    this.#logInfo(`[RTT] ${wire.event} sent`);
    return ans;
  }

  /**
   * beacons sends many beacons in one POST /beacons (a JSON array). Each gets
   * its event_id first; items the server answers "unavailable" (in a 207 or
   * 503) are sent again, alone, with backoff; a network failure or timeout
   * sends all pending items again (their ids make that safe). It resolves
   * when every item has a final answer, stored or invalid:
   *   {status: "ok"|"partial"|"error", accepted, duplicates, rejected,
   *    unavailable, failed, attempts, results: [{index, status, event_id,
   *    duplicate?, error?, violations?}]}
   * with results in the order given; invalid items do not throw, look at
   * `rejected` and each result's violations.
   * @throws {RTTUnavailableError} items still unavailable after every attempt; err.result says which were stored
   * @throws {RTTHTTPError} the request as a whole was refused (413, 401 ...); err.result as above
   */
  async beacons(payloads, { signal } = {}) {
    if (!Array.isArray(payloads)) throw new TypeError("beacons: payloads must be an array");
    const method = "POST";
    const path = "/beacons";
    const raws = new Array(payloads.length);
    const events = new Array(payloads.length);
    const results = new Array(payloads.length);
    payloads.forEach((p, i) => {
      let prepared;
      try {
        prepared = ensureEventId(p);
      } catch (err) {
        throw new TypeError(`beacons: item ${i}: ${err.message}`, { cause: err });
      }
      raws[i] = JSON.stringify(prepared.wire);
      events[i] = prepared.wire.event;
      results[i] = { index: i, status: "pending", event_id: prepared.eventId };
    });
    if (payloads.length === 0) return countResults(results, 0);

    let pending = results.map((_, i) => i);
    const fail = (err, attempts) => {
      const status = err instanceof RTTUnavailableError || (err instanceof RTTHTTPError && RETRYABLE.has(err.status)) ? "unavailable" : "failed";
      for (const i of pending) {
        if (results[i].status !== "unavailable") results[i] = { ...results[i], status, error: err.message };
      }
      err.result = countResults(results, attempts);
      return err;
    };
    for (let attempt = 1; ; attempt++) {
      const r = await this.#attempt(method, path, "[" + pending.map((i) => raws[i]).join(",") + "]", signal).catch((err) => {
        throw fail(err instanceof Error ? err : new RTTError(String(err)), attempt);
      });
      let last;
      let wait = 0;
      if (r instanceof Transient) {
        last = r;
      } else {
        const body = parseJSON(r.text);
        const perItem = body && Array.isArray(body.results) && ((r.status >= 200 && r.status < 300) || r.status === 400 || RETRYABLE.has(r.status));
        if (!perItem) {
          if (r.status >= 200 && r.status < 300) throw fail(new RTTError(`rtt: ${method} ${path}: answer ${r.status} without per-item results`), attempt);
          const err = httpError(method, path, r);
          if (!RETRYABLE.has(r.status)) throw fail(err, attempt);
          last = err;
          wait = err.retryAfterMs ?? 0;
        } else {
          if (body.results.length !== pending.length) {
            throw fail(new RTTError(`rtt: ${method} ${path}: answer has ${body.results.length} results for ${pending.length} items`), attempt);
          }
          const again = [];
          let reason = "";
          body.results.forEach((it, j) => {
            const i = pending[j];
            const merged = { ...it, index: i, event_id: it.event_id || results[i].event_id };
            results[i] = merged;
            if (merged.status === "unavailable") {
              again.push(i);
              reason = merged.error || reason;
            } else if (merged.status === "ok") {
              this.#logInfo(`[RTT] ${events[i]} sent`);
            }
          });
          pending = again;
          if (pending.length === 0) return countResults(results, attempt);
          last = new RTTHTTPError({
            method,
            path,
            status: r.status,
            kind: "unavailable",
            message: `${pending.length} of ${payloads.length} beacons not stored${reason ? ": " + reason : ""}`,
            body,
          });
          wait = parseRetryAfter(r.headers.get("retry-after")) ?? 0;
        }
      }
      if (attempt > this.retries) {
        const err = this.#giveUp(method, path, attempt, last);
        throw fail(err, attempt);
      }
      const why = last instanceof Transient ? last.error.message : `${last.status} ${last.message}`;
      try {
        await this.#pause(method, path, attempt, wait, why, signal);
      } catch (err) {
        throw fail(err instanceof Error ? err : new RTTError(String(err)), attempt);
      }
    }
  }

  /**
   * getProfile resolves with the site's current profile object, or null when
   * the site has none (GET /profile/{site}).
   */
  async getProfile(site, { signal } = {}) {
    checkSite(site);
    const ans = await this.#request("GET", `/profile/${encodeURIComponent(site)}`, undefined, signal);
    return ans?.profile ?? null;
  }

  /**
   * setProfile registers the site's profile (POST /profile/{site}) and
   * resolves with {status: "ok", site, event_id}. The server keys the
   * profile by its content, so a retried or repeated call stores it once.
   * @throws {RTTValidationError} the profile does not fit the schema
   */
  async setProfile(site, profile, { signal } = {}) {
    checkSite(site);
    const ans = await this.#request("POST", `/profile/${encodeURIComponent(site)}`, jsonBody(profile, "profile"), signal);
    this.#logInfo(`[RTT] profile ${site} sent`);
    return ans;
  }

  /**
   * validate submits a coherence validation (POST /validate); resolves with
   * {status: "ok", version: "vst-beta/1", kind: "validate", score, result}.
   */
  async validate(payload, { signal } = {}) {
    return this.#diagnostic("validate", payload, signal);
  }

  /**
   * corridor submits flows for corridor alignment (POST /corridor) against
   * the request's corridors or the site's profile; resolves with
   * {status, version, kind: "corridor", site?, score, result: {corridors, source, aligned, flows}}.
   */
  async corridor(payload, { signal } = {}) {
    return this.#diagnostic("corridor", payload, signal);
  }

  /**
   * topology submits a graph for decomposition (POST /topology); resolves
   * with {status, version, kind: "topology", score, result} (cycles,
   * layers, tiers, critical nodes, longest chain).
   */
  async topology(payload, { signal } = {}) {
    return this.#diagnostic("topology", payload, signal);
  }

  async #diagnostic(kind, payload, signal) {
    const ans = await this.#request("POST", `/${kind}`, jsonBody(payload, kind), signal);
    this.#logInfo(`[RTT] ${kind} sent`);
    return ans;
  }

  /**
   * startHeartbeat sends a beacon now and then every `everyMs` (30 s):
   * payloadFn() (may be async) returns the beacon; a missing ts is set to
   * the current time so each heartbeat is a new event. A tick is skipped
   * while the previous one is still sending. Failures go to onError (the
   * option here, else the client's), else to console.warn. The timer is
   * unref'd: it does not keep the process alive. Returns {stop()}; stop()
   * returns a promise that settles when a send in progress has finished.
   */
  startHeartbeat(payloadFn, options = {}) {
    return startHeartbeat(this, payloadFn, options);
  }

  /**
   * batchSender returns a BatchSender that buffers beacons and sends them
   * with beacons() every `maxItems` items or `flushMs` ms; see batch.js.
   */
  batchSender(options = {}) {
    return new BatchSender(this, options);
  }

  /** reportError passes an error of background work to onError, else console.warn. */
  reportError(err, onError = this.onError) {
    if (typeof onError === "function") {
      try {
        onError(err);
      } catch {
        // an error handler that throws has nowhere else to go
      }
      return;
    }
    console.warn(`[RTT] ${err?.message ?? err}`);
  }
}

function checkSite(site) {
  // The server checks the length (1 to 128 bytes) and answers 400 naming "site".
  if (typeof site !== "string" || site === "") throw new TypeError("site must be a non-empty string");
}

function jsonBody(payload, what) {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    throw new TypeError(`${what} payload must be an object`);
  }
  return JSON.stringify(payload);
}
