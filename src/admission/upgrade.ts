/**
 * The raw-socket side of admission, shared by `/ws` and `/socket.io/`: an HTTP upgrade request
 * goes from Node's `upgrade` event to either a written refusal or the transport's own upgrade,
 * and the slot it took comes back on every path. The slot is tied to the socket from the moment
 * it is taken: whatever ends the socket before or after `101` (a refusal by `ws` or engine.io,
 * a reset, the client going away, the upgrade timeout, a normal close) releases it.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HandshakeRequest } from '../guards/handshake/types.js';
import type { Admission, AdmissionPlan } from './admission.js';
import { writeUpgradeRefusal, type HandshakeRefusal } from './refusal.js';
import { describeRequest } from './request.js';
import type { Ticket } from './ticket.js';
import { checkUpgrade, type UpgradeProblem } from './upgrade-check.js';

export interface UpgradeOptions {
  readonly admission: Admission;
  readonly trusted: ReadonlySet<string>;
  readonly tls: boolean;
  /** `limits.upgradeTimeoutMs`. */
  readonly timeoutMs: number;
}

/**
 * Hands an admitted upgrade to its transport. The transport calls `ticket.opened(evict)` once the
 * connection is open, `ticket.authenticated()` when it authenticates; the release is taken care of.
 */
export type Proceed = (hs: HandshakeRequest, ticket: Ticket) => void;

/**
 * Module-level on purpose: a closure created per upgrade would share its context, and as a
 * listener living as long as the socket it would keep the request, its headers and the head
 * buffer alive for the whole connection.
 */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** The state of one upgrade between the request and `101`. Holds no request data. */
class Attempt {
  closed = false;
  /** A refusal or the timeout answered it. */
  answered = false;
  ticket: Ticket | undefined;
  timer: NodeJS.Timeout | undefined;

  readonly onClose = (): void => {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.ticket?.release();
  };
}

/** Not a WebSocket upgrade: 400/426 after the handshake rate, no slot ever taken. */
function refuseInvalid(options: UpgradeOptions, hs: HandshakeRequest, socket: Duplex, problem: UpgradeProblem, transport: AdmissionPlan['transport']): void {
  const detail = problem.problem === 'duplicate_header' ? { problem: problem.problem, header: problem.header } : { problem: problem.problem };
  const refusal: HandshakeRefusal = { reason: problem.reason, event: 'upgrade_invalid', detail };
  void options.admission.refuseAnonymous(hs, refusal, transport).then((final) => writeUpgradeRefusal(socket, final, options.tls));
}

export function handleUpgrade(options: UpgradeOptions, req: IncomingMessage, socket: Duplex, plan: AdmissionPlan, proceed: Proceed): void {
  socket.on('error', destroyOnError);
  const { admission, tls } = options;
  const hs = describeRequest(req, options.trusted);
  const problem = checkUpgrade(req);
  if (problem) return refuseInvalid(options, hs, socket, problem, plan.transport);
  const attempt = new Attempt();
  socket.once('close', attempt.onClose);
  if (socket.destroyed) attempt.closed = true;
  attempt.timer = setTimeout(() => timedOut(options, attempt, socket, hs, plan), options.timeoutMs);
  attempt.timer.unref();

  void admission.admit(hs, plan).then((result) => {
    if (!result.ok) {
      if (attempt.answered) return;
      attempt.answered = true;
      clearTimeout(attempt.timer);
      return writeUpgradeRefusal(socket, result.refusal, tls);
    }
    const ticket = result.ticket;
    if (attempt.answered || attempt.closed || socket.destroyed) {
      // Timed out meanwhile, or the client went away: nothing to upgrade.
      ticket.release();
      if (!attempt.closed) socket.destroy();
      return;
    }
    attempt.ticket = ticket;
    // The ticket owns the timeout from here: it clears it, and drops it (with the request its
    // callback holds) once the connection opens, instead of keeping both for the socket's life.
    ticket.deadline = attempt.timer;
    attempt.timer = undefined;
    // Once open, the transport's own close handler releases the ticket: this listener (and the
    // attempt it holds) need not live as long as the connection.
    ticket.onOpened = () => socket.removeListener('close', attempt.onClose);
    try {
      proceed(hs, ticket);
    } catch (error) {
      admission.log.error({ err: error }, 'upgrade failed');
      ticket.release();
      socket.destroy();
    }
  });
}

function timedOut(options: UpgradeOptions, attempt: Attempt, socket: Duplex, hs: HandshakeRequest, plan: AdmissionPlan): void {
  const ticket = attempt.ticket;
  // Switched already: the timer has nothing left to guard.
  if (attempt.closed || (ticket && ticket.state !== 'handshake')) return;
  const refusal = options.admission.record(hs, { reason: 'timeout', event: 'handshake_timeout', retryAfterMs: 5000, detail: { afterMs: options.timeoutMs } }, plan.transport);
  if (!ticket) {
    // Still in the checks: answer now; the checks' result is dropped when it comes.
    attempt.answered = true;
    return writeUpgradeRefusal(socket, refusal, options.tls);
  }
  // Handed to the transport but never opened: the socket may be mid-write, so no response.
  ticket.release();
  socket.destroy();
}

/** The upgrade of an existing session (engine.io `sid`): the shape and the session guards, no slot. */
export function handleSessionUpgrade(
  options: UpgradeOptions,
  req: IncomingMessage,
  socket: Duplex,
  guards: AdmissionPlan['before'],
  transport: AdmissionPlan['transport'],
  proceed: (hs: HandshakeRequest) => void,
): void {
  socket.on('error', destroyOnError);
  const hs = describeRequest(req, options.trusted);
  const problem = checkUpgrade(req);
  if (problem) return refuseInvalid(options, hs, socket, problem, transport);
  void options.admission.vet(hs, guards, transport).then((refusal) => {
    if (refusal) return writeUpgradeRefusal(socket, refusal, options.tls);
    if (!socket.destroyed) proceed(hs);
  });
}

/** An upgrade on a path that serves none: 404 with the security headers, after the handshake rate. */
export function refuseUnknownPath(options: UpgradeOptions, req: IncomingMessage, socket: Duplex): void {
  socket.on('error', destroyOnError);
  const hs = describeRequest(req, options.trusted);
  const refusal: HandshakeRefusal = { reason: 'not_found', event: 'upgrade_invalid', detail: { problem: 'path', path: hs.url.pathname.slice(0, 100) } };
  void options.admission.refuseAnonymous(hs, refusal, 'ws').then((final) => writeUpgradeRefusal(socket, final, options.tls));
}
