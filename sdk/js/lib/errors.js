// Error classes of the SDK. Every error the client throws is an RTTError;
// what went wrong decides the subclass:
//
//   RTTError
//   ├── RTTHTTPError            the server answered with an error status
//   │   └── RTTValidationError  400: the payload can never be accepted as sent
//   └── RTTUnavailableError     not stored after every attempt (503, 502, 504,
//       │                       429, network errors, items still "unavailable")
//       └── RTTTimeoutError     ... and the last attempt timed out

/** RTTError is the base class of every error the SDK throws. */
export class RTTError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = "RTTError";
  }
}

/**
 * RTTHTTPError is an error answer of the API. `status` is the HTTP status;
 * `kind`, `message` and `violations` come from the server's JSON error body
 * ({"status":"error","error":KIND,"message":...,"violations":[{field,rule}]});
 * for an answer without that body (a proxy's), `kind` is "" and `message`
 * the start of the body or the status text. `body` is the parsed answer when
 * it was JSON.
 */
export class RTTHTTPError extends RTTError {
  constructor({ method, path, status, kind = "", message = "", violations = [], body, retryAfterMs } = {}) {
    super(message || `HTTP ${status}`);
    this.name = "RTTHTTPError";
    this.method = method;
    this.path = path;
    this.status = status;
    this.kind = kind;
    this.violations = violations;
    this.body = body;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * RTTValidationError is a 400 answer: the server rejected the payload as
 * sent, and will reject it again. `violations` name each failing field and
 * rule, e.g. [{field: "structure.nav_count", rule: "got string, want integer"}];
 * `fields` lists just the field names.
 */
export class RTTValidationError extends RTTHTTPError {
  constructor(init) {
    super(init);
    this.name = "RTTValidationError";
  }

  get fields() {
    return this.violations.map((v) => v.field);
  }
}

/**
 * RTTUnavailableError means the request was not (known to be) stored after
 * every attempt: the server kept answering 503/502/504/429, or the network
 * failed. Sending the same payload again later may succeed; beacons keep
 * their event_id, so that never duplicates. `attempts` is how many requests
 * were made, `status` and `kind` describe the last answer (undefined after a
 * network error), `cause` is the last failure. For beacons(), `result` says
 * which items were stored.
 */
export class RTTUnavailableError extends RTTError {
  constructor(message, { attempts, status, kind, cause, result } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "RTTUnavailableError";
    this.attempts = attempts;
    this.status = status;
    this.kind = kind;
    this.result = result;
  }
}

/**
 * RTTTimeoutError means the last attempt did not complete within the
 * client's timeoutMs. It is an RTTUnavailableError: the server may or may
 * not have stored the payload, and re-sending it (same event_id) is safe.
 */
export class RTTTimeoutError extends RTTUnavailableError {
  constructor(message, init) {
    super(message, init);
    this.name = "RTTTimeoutError";
  }
}
