// rtt-sdk: the JavaScript (Node 18+) client of the rtt API.
//
//   import { RTTClient } from "./rtt-sdk/index.js";   // the guide's layout
//   import { RTTClient } from "rtt-sdk";              // after npm install /path/to/rtt/sdk/js
//   const client = new RTTClient();                   // RTT_URL, RTT_TOKEN from the environment

import { buildBeaconPayload, createSessionId, formatTs } from "./lib/beacon.js";
import { createProfile, validateProfile } from "./lib/profile.js";
import { buildValidatePayload, buildCorridorPayload, buildTopologyPayload } from "./lib/diagnostics.js";
import { deriveEventId, ensureEventId, canonicalJSON, contentId } from "./lib/eventid.js";

export { RTTClient, DEFAULT_BASE_URL, parseRetryAfter } from "./lib/client.js";
export { BatchSender } from "./lib/batch.js";
export { RTTError, RTTHTTPError, RTTValidationError, RTTUnavailableError, RTTTimeoutError } from "./lib/errors.js";

export {
  buildBeaconPayload,
  createSessionId,
  formatTs,
  createProfile,
  validateProfile,
  buildValidatePayload,
  buildCorridorPayload,
  buildTopologyPayload,
  deriveEventId,
  ensureEventId,
  canonicalJSON,
  contentId,
};

/** beacon helpers: build payloads, session ids and event ids. */
export const beacon = Object.freeze({ buildBeaconPayload, createSessionId, formatTs, deriveEventId });

/** profile helpers: build and check site profiles. */
export const profile = Object.freeze({ createProfile, validateProfile });

/** diagnostics helpers: build /validate, /corridor and /topology payloads. */
export const diagnostics = Object.freeze({ buildValidatePayload, buildCorridorPayload, buildTopologyPayload });
