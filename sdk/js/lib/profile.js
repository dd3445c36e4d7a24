// Helpers for site profiles (schemas/json/profile.schema.json).

/**
 * createProfile returns a profile payload, the JS form of the guide's
 * create_profile(version=..., supports=[...], contact=...):
 * { rtt_version, supports, contact } plus `corridors` when given and any
 * other field of `extra`. `version` may also be given as `rtt_version`.
 */
export function createProfile({ version, rtt_version, supports = [], contact, corridors, ...extra } = {}) {
  const profile = { ...extra };
  const v = rtt_version ?? version;
  if (v !== undefined) profile.rtt_version = v;
  profile.supports = [...supports];
  if (contact !== undefined) profile.contact = contact;
  if (corridors !== undefined) profile.corridors = corridors;
  return profile;
}

const len = (s) => [...s].length; // JSON Schema counts code points

function str(out, field, v, { min = 0, max }) {
  if (typeof v !== "string") {
    out.push({ field, rule: "must be a string" });
  } else if (len(v) < min) {
    out.push({ field, rule: `must have at least ${min} character${min === 1 ? "" : "s"}` });
  } else if (max !== undefined && len(v) > max) {
    out.push({ field, rule: `must have at most ${max} characters` });
  }
}

function strArray(out, field, v, { minItems = 0, maxItems, minLength = 0, maxLength }) {
  if (!Array.isArray(v)) {
    out.push({ field, rule: "must be an array" });
    return;
  }
  if (v.length < minItems) out.push({ field, rule: `must have at least ${minItems} items` });
  if (v.length > maxItems) out.push({ field, rule: `must have at most ${maxItems} items` });
  v.forEach((s, i) => str(out, `${field}[${i}]`, s, { min: minLength, max: maxLength }));
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * validateProfile checks a profile against the server's profile schema and
 * returns the violations, [] when there are none, in the server's form
 * [{field, rule}] (the rule texts are the SDK's, not the server's). The
 * server stays the authority: this is for failing early, for example in CI.
 */
export function validateProfile(profile) {
  const out = [];
  if (!isObject(profile)) return [{ field: "", rule: "must be an object" }];
  if (profile.rtt_version !== undefined) str(out, "rtt_version", profile.rtt_version, { max: 32 });
  if (profile.supports !== undefined) strArray(out, "supports", profile.supports, { maxItems: 64, minLength: 1, maxLength: 64 });
  if (profile.contact !== undefined) str(out, "contact", profile.contact, { max: 256 });
  if (profile.corridors !== undefined) {
    if (!Array.isArray(profile.corridors)) {
      out.push({ field: "corridors", rule: "must be an array" });
    } else {
      if (profile.corridors.length > 1024) out.push({ field: "corridors", rule: "must have at most 1024 items" });
      profile.corridors.forEach((c, i) => {
        const f = `corridors[${i}]`;
        if (!isObject(c)) {
          out.push({ field: f, rule: "must be an object" });
          return;
        }
        for (const k of ["name", "path", "budget_ms"]) {
          if (c[k] === undefined) out.push({ field: `${f}.${k}`, rule: "required property is missing" });
        }
        for (const k of Object.keys(c)) {
          if (!["name", "path", "budget_ms"].includes(k)) out.push({ field: `${f}.${k}`, rule: "unknown property (a corridor has name, path and budget_ms)" });
        }
        if (c.name !== undefined) str(out, `${f}.name`, c.name, { min: 1, max: 128 });
        if (c.path !== undefined) strArray(out, `${f}.path`, c.path, { minItems: 2, maxItems: 64, minLength: 1, maxLength: 256 });
        if (c.budget_ms !== undefined) {
          if (typeof c.budget_ms !== "number" || !Number.isFinite(c.budget_ms)) {
            out.push({ field: `${f}.budget_ms`, rule: "must be a number" });
          } else if (c.budget_ms <= 0 || c.budget_ms > 86400000) {
            out.push({ field: `${f}.budget_ms`, rule: "must be greater than 0 and at most 86400000" });
          }
        }
      });
    }
  }
  return out.sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
}
