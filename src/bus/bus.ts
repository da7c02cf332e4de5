/**
 * The bus carries server frames to the connections that should receive them, on this node and,
 * in a cluster, on every node. A frame is serialized once by the publisher; the bus moves the
 * string. Guarantees: per-publisher order is kept; delivery to local subscribers happens in the
 * same turn as `publish` for the in-process bus, and within one Redis round trip for the Redis bus.
 */
import type { BanRecord, RevocationKind } from '../store/store.js';

export type Target =
  | { kind: 'room'; room: string }
  | { kind: 'user'; user: string }
  /** Every connection from one client IP (an IP ban closes them). */
  | { kind: 'ip'; ip: string }
  | { kind: 'all' }
  | { kind: 'admins' }
  | { kind: 'connection'; connectionId: string };

/** One live connection as the admin console lists it (docs/admin.md "Admin API"). */
export interface ConnectionSummary {
  node: string;
  id: string;
  user?: string | undefined;
  name?: string | undefined;
  ip: string;
  transport: string;
  /** When the connection opened (ms). */
  since: number;
  /** Joined rooms, at most 20. */
  rooms: string[];
  admin: boolean;
}

/** The admin console's cluster-wide connection list: a query every node answers (src/admin/directory.ts). */
export type DirectoryMessage =
  | { query: { id: string; from: string; user?: string | undefined; ip?: string | undefined; limit: number } }
  | { reply: { id: string; to: string; node: string; total: number; connections: ConnectionSummary[] } };

/** Side effects applied to the targeted connections after the frame is delivered. */
export interface Effect {
  /**
   * Cluster: the ban or revocation behind this effect, so every node adds it to its own set at
   * once (each node may have its own store; the bus is then the only path).
   */
  ban?: BanRecord;
  /** `jti` holds the revoked value (a token id, a session family or a user id, by `kind`; default `jti`). */
  revocation?: { jti: string; expiresAt: number; kind?: RevocationKind; at?: number };
  /** Drop the targeted connections' subscription to this room (kick, delete). */
  leave?: string;
  /** Close the targeted connections. */
  close?: { code: number; reason: string };
  /** Cluster: an admin's mute, applied by every node's spam guard. */
  mute?: { user: string; until: number };
  /** Cluster: the admin console's connection directory (not delivered to connections). */
  directory?: DirectoryMessage;
  /** Only connections authenticated with this token id (revocation). */
  jti?: string;
  /** Only connections authenticated with a token of this session (refresh family; revocation). */
  sid?: string;
  /**
   * Cluster: a node lost publishes (Redis unreachable). Every other node compares the stored tail
   * of each room it follows with what it delivered, and resyncs the rooms that fell behind.
   */
  recheck?: true;
}

export interface Envelope {
  target: Target;
  /** Serialized server frame, or '' for an effect-only envelope. */
  frame: string;
  /** The frame's `type`, for metrics without parsing `frame`. */
  type?: string;
  /** A `chat.message`'s `seq`: the receiving node delivers each room's messages in this order. */
  seq?: number;
  /** Not to this user's connections (`chat.typing` never reaches its sender). */
  exceptUser?: string;
  effect?: Effect;
}

export type Deliver = (envelope: Envelope) => void;

export interface Bus {
  readonly kind: 'memory' | 'redis';
  publish(envelope: Envelope): void;
  /** Registers this node's local delivery. */
  attach(deliver: Deliver): void;
  ping(): Promise<void>;
  close(): Promise<void>;
}
