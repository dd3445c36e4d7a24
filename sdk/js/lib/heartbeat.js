// Periodic beacons: the guide's "every 30 seconds for active clusters".

/**
 * startHeartbeat sends client.beacon(await payloadFn()) now (unless
 * immediate is false) and then every everyMs. See RTTClient.startHeartbeat.
 * A payloadFn that returns null or undefined skips that tick.
 */
export function startHeartbeat(client, payloadFn, { everyMs = 30000, immediate = true, onError } = {}) {
  if (typeof payloadFn !== "function") throw new TypeError("startHeartbeat: payloadFn must be a function returning a beacon");
  if (typeof everyMs !== "number" || !(everyMs > 0)) throw new TypeError("startHeartbeat: everyMs must be a number > 0");
  let inFlight = null;
  let stopped = false;

  const tick = () => {
    if (stopped || inFlight) return;
    inFlight = (async () => {
      try {
        const payload = await payloadFn();
        if (payload == null || stopped) return;
        const beacon = payload.ts === undefined ? { ...payload, ts: new Date().toISOString() } : payload;
        await client.beacon(beacon);
      } catch (err) {
        client.reportError(err, onError ?? client.onError);
      } finally {
        inFlight = null;
      }
    })();
  };

  const timer = setInterval(tick, everyMs);
  timer.unref?.();
  if (immediate) tick();

  return {
    /** stop ends the heartbeat; the promise settles once a send in progress has finished. */
    stop() {
      stopped = true;
      clearInterval(timer);
      return inFlight ?? Promise.resolve();
    },
  };
}
