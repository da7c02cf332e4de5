/**
 * This node's registry of live connections and their room subscriptions, and the local end of
 * the bus: it turns an envelope into writes on the right connections. A frame arrives already
 * serialized, so a broadcast to N subscribers serializes once.
 */
import type { ConnectionSummary, Envelope } from '../bus/bus.js';

export interface Peer {
  readonly connectionId: string;
  readonly userId: string | undefined;
  /** The user's display name (presence lists it). */
  readonly userName?: string | undefined;
  readonly isAdmin: boolean;
  readonly jti: string | undefined;
  /** The session (refresh family) of the token the peer authenticated with, if any. */
  readonly sid?: string | undefined;
  /** Writes one serialized frame. */
  deliver(data: string): void;
  /** What the admin console shows of the connection (without the node). */
  describe?(): Omit<ConnectionSummary, 'node'>;
  /** Drops the subscription locally without touching storage (kick, delete, leave elsewhere). */
  dropRoom(room: string): void;
  close(code: number, reason: string): void;
}

/** Adds a peer; true when it was not there yet. */
function addTo<K>(map: Map<K, Set<Peer>>, key: K, peer: Peer): boolean {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  const before = set.size;
  set.add(peer);
  return set.size > before;
}

/** Removes a peer; true when that emptied the key's set. */
function removeFrom<K>(map: Map<K, Set<Peer>>, key: K, peer: Peer): boolean {
  const set = map.get(key);
  if (!set || !set.delete(peer)) return false;
  if (set.size > 0) return false;
  map.delete(key);
  return true;
}

/**
 * Connections by user or by address: most users and addresses have one connection, held as is;
 * a Set is made only for the second (an idle connection then costs its hub no Set of its own).
 */
class PeerGroups {
  private readonly map = new Map<string, Peer | Set<Peer>>();

  add(key: string, peer: Peer): void {
    const held = this.map.get(key);
    if (held === undefined) this.map.set(key, peer);
    else if (held instanceof Set) held.add(peer);
    else if (held !== peer) this.map.set(key, new Set([held, peer]));
  }

  remove(key: string, peer: Peer): void {
    const held = this.map.get(key);
    if (held === peer) this.map.delete(key);
    else if (held instanceof Set && held.delete(peer)) {
      if (held.size === 1) this.map.set(key, held.values().next().value as Peer);
      else if (held.size === 0) this.map.delete(key);
    }
  }

  size(key: string): number {
    const held = this.map.get(key);
    return held === undefined ? 0 : held instanceof Set ? held.size : 1;
  }

  get(key: string): Iterable<Peer> | undefined {
    const held = this.map.get(key);
    return held === undefined || held instanceof Set ? held : [held];
  }
}

/**
 * Told which rooms have local followers (the cluster's per-room `seq` order, fanout/sequencer.ts).
 * `watch` may return a promise the follower waits for before reading the room's history.
 */
export interface RoomWatcher {
  watch(room: string, roomId: number): Promise<void> | undefined;
  forget(room: string): void;
}

/** Told which users' connections follow which rooms (room presence, src/presence/room-presence.ts). */
export interface RoomFollowers {
  peerJoined(room: string, peer: Peer): void;
  peerLeft(room: string, peer: Peer): void;
}

export class Hub {
  /** Set once at assembly, before any connection: rooms followed here are reported to it. */
  watcher: RoomWatcher | undefined;
  /** Set once at assembly: every subscription change is reported to it. */
  followers: RoomFollowers | undefined;

  constructor(
    /** Counts frames written to local connections (by frame type). */
    private readonly onDelivered?: (type: string, count: number) => void,
  ) {}

  private readonly rooms = new Map<string, Set<Peer>>();
  private readonly users = new PeerGroups();
  private readonly authenticated = new Set<Peer>();
  private readonly admins = new Set<Peer>();
  private readonly byId = new Map<string, Peer>();
  /** Every open connection, authenticated or not. */
  private readonly open = new Set<Peer>();
  /** Open connections by client IP (an IP ban closes them all). */
  private readonly byIp = new PeerGroups();

  get openCount(): number {
    return this.open.size;
  }

  ipCount(ip: string): number {
    return this.byIp.size(ip);
  }

  userCount(user: string): number {
    return this.users.size(user);
  }

  roomSize(room: string): number {
    return this.rooms.get(room)?.size ?? 0;
  }

  opened(peer: Peer, ip: string): void {
    this.open.add(peer);
    this.byId.set(peer.connectionId, peer);
    this.byIp.add(ip, peer);
  }

  authenticatedPeer(peer: Peer): void {
    this.authenticated.add(peer);
    if (peer.userId !== undefined) this.users.add(peer.userId, peer);
    if (peer.isAdmin) this.admins.add(peer);
  }

  closed(peer: Peer, ip: string, rooms: Iterable<string>): void {
    if (!this.open.delete(peer)) return;
    this.byId.delete(peer.connectionId);
    this.byIp.remove(ip, peer);
    this.authenticated.delete(peer);
    this.admins.delete(peer);
    if (peer.userId !== undefined) this.users.remove(peer.userId, peer);
    for (const room of rooms) this.removeFromRoom(peer, room);
  }

  private removeFromRoom(peer: Peer, room: string): void {
    const set = this.rooms.get(room);
    if (!set?.has(peer)) return;
    if (removeFrom(this.rooms, room, peer)) this.watcher?.forget(room);
    this.followers?.peerLeft(room, peer);
  }

  /** Roles changed (auth.refresh): admin alerts follow the new token. */
  rolesChanged(peer: Peer): void {
    if (!this.authenticated.has(peer)) return;
    if (peer.isAdmin) this.admins.add(peer);
    else this.admins.delete(peer);
  }

  /** Follows a room; with a watcher, may return a promise to await before reading the room's history. */
  subscribe(peer: Peer, room: string, roomId?: number): Promise<void> | undefined {
    if (addTo(this.rooms, room, peer)) this.followers?.peerJoined(room, peer);
    return roomId === undefined ? undefined : this.watcher?.watch(room, roomId);
  }

  unsubscribe(peer: Peer, room: string): void {
    this.removeFromRoom(peer, room);
  }

  /** Local delivery of a bus envelope. */
  deliver(envelope: Envelope): void {
    const { target, frame, effect } = envelope;
    let peers: Iterable<Peer> | undefined;
    switch (target.kind) {
      case 'room':
        peers = this.rooms.get(target.room);
        break;
      case 'user':
        peers = this.users.get(target.user);
        break;
      case 'ip':
        peers = this.byIp.get(target.ip);
        break;
      case 'all':
        peers = this.authenticated;
        break;
      case 'admins':
        peers = this.admins;
        break;
      case 'connection': {
        const one = this.byId.get(target.connectionId);
        peers = one ? [one] : undefined;
        break;
      }
    }
    if (!peers) return;
    if (!effect) {
      let n = 0;
      const except = envelope.exceptUser;
      for (const peer of peers) {
        if (except !== undefined && peer.userId === except) continue;
        peer.deliver(frame);
        n++;
      }
      if (this.onDelivered && n > 0) this.onDelivered(envelope.type ?? 'unknown', n);
      return;
    }
    // Effects change the sets being iterated: take a snapshot first.
    let n = 0;
    for (const peer of [...peers]) {
      if (effect.jti !== undefined && peer.jti !== effect.jti) continue;
      if (effect.sid !== undefined && peer.sid !== effect.sid) continue;
      if (frame) {
        peer.deliver(frame);
        n++;
      }
      if (effect.leave !== undefined) peer.dropRoom(effect.leave);
      if (effect.close) peer.close(effect.close.code, effect.close.reason);
    }
    if (this.onDelivered && n > 0) this.onDelivered(envelope.type ?? 'unknown', n);
  }

  /** Every open connection of this node, authenticated or not (the admin console's list). */
  peers(): Iterable<Peer> {
    return this.open;
  }

  /** Closes every connection (shutdown). */
  closeAll(code: number, reason: string): void {
    for (const peer of [...this.open]) peer.close(code, reason);
  }
}
