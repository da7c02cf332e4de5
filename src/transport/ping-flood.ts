/**
 * Pongs within a bound (docs/protocol.md "Session", `limits.maxPendingPongs`): the `ws` servers
 * run with `autoPong: false` and a socket's pings are answered here, each with its payload, while
 * fewer than `max` pongs wait to be written. The ping past that (a burst in one read, or pings
 * from a peer that does not read) is a flood: `onFlood` records it and closes the connection 1008,
 * and nothing more is answered.
 *
 * One listener serves every socket (it finds the socket's count through `this`), and a policy is
 * shared by all the sockets of a transport: an idle connection holds one small object here, not
 * a listener, a callback and their context.
 */
import type { WebSocket } from 'ws';

export interface PingPolicy {
  readonly max: number;
  readonly onFlood: (ws: WebSocket, pending: number) => void;
}

class PingState {
  pending = 0;
  flooded = false;
  constructor(readonly policy: PingPolicy) {}
}

const STATE = Symbol('bulwark.pings');
type Answered = WebSocket & { [STATE]?: PingState };

function onPing(this: Answered, data: Buffer): void {
  const state = this[STATE];
  if (!state || state.flooded || this.readyState !== this.OPEN) return;
  if (state.pending >= state.policy.max) {
    state.flooded = true;
    state.policy.onFlood(this, state.pending);
    return;
  }
  state.pending++;
  // A callback per ping (rare), none per connection.
  this.pong(data, false, () => void state.pending--);
}

export function answerPings(ws: WebSocket, policy: PingPolicy): void {
  (ws as Answered)[STATE] = new PingState(policy);
  ws.on('ping', onPing);
}
