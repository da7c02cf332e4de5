/**
 * The bus → hub edge of fan-out: every envelope published on any node (or on this node's
 * in-process bus) arrives here and is written to this node's connections. A ban or revocation
 * made on another node rides the same envelope and joins this node's sets as it arrives, before
 * any frame it carries is delivered.
 */
import type { Revocations } from '../auth/revocation.js';
import type { Bus, DirectoryMessage } from '../bus/bus.js';
import type { Bans } from '../security/bans.js';
import type { Hub } from './hub.js';
import type { RoomSequencer } from './sequencer.js';

/** Effects that change this node's state rather than its connections (admin actions), and the cluster's sequencer. */
export interface NodeEffects {
  mute?(user: string, until: number): void;
  directory?(message: DirectoryMessage): void;
  /** With a sequencer (cluster mode), each room's `chat.message`s reach this node's connections in `seq` order. */
  sequencer?: RoomSequencer;
}

export function deliverBusToHub(bus: Bus, hub: Hub, bans: Bans, revocations: Revocations, node: NodeEffects = {}): void {
  const sequencer = node.sequencer;
  bus.attach(function busDelivery(envelope) {
    const effect = envelope.effect;
    if (effect?.ban) bans.adopt(effect.ban);
    if (effect?.revocation) revocations.adopt(effect.revocation);
    if (effect?.mute) node.mute?.(effect.mute.user, effect.mute.until);
    if (effect?.directory) node.directory?.(effect.directory);
    if (effect?.recheck) void sequencer?.recheck();
    // An envelope that only carries a record (no frame, no close, no leave) has nothing to deliver.
    if (effect && !envelope.frame && !effect.close && effect.leave === undefined) return;
    if (sequencer && envelope.seq !== undefined) sequencer.accept(envelope);
    else hub.deliver(envelope);
  });
}
