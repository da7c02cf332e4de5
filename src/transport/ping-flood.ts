/**
 * Pongs within a bound (docs/protocol.md "Session", `limits.maxPendingPongs`): the `ws` servers
 * run with `autoPong: false` and a socket's pings are answered here, each with its payload, while
 * fewer than `max` pongs wait to be written. The ping past that (a burst in one read, or pings
 * from a peer that does not read) is a flood: `onFlood` records it and closes the connection 1008,
 * and nothing more is answered.
 */
import type { WebSocket } from 'ws';

export function answerPings(ws: WebSocket, max: number, onFlood: (pending: number) => void): void {
  let pending = 0;
  let flooded = false;
  const written = (): void => void pending--;
  ws.on('ping', (data: Buffer) => {
    if (flooded || ws.readyState !== ws.OPEN) return;
    if (pending >= max) {
      flooded = true;
      onFlood(pending);
      return;
    }
    pending++;
    ws.pong(data, false, written);
  });
}
