/**
 * Room presence across nodes (docs/protocol.md "`presence`", docs/cluster.md): the Redis side of
 * src/presence/room-presence.ts.
 *
 * Per room, a hash `rp:<room>` maps each present user to their name, and per room and user a
 * sorted set `rp:<room>:<user>` holds the nodes the user is present on, scored by an expiry.
 * An entry counts only while its node holds a lease (nodes.ts), so a node that crashed stops
 * counting `cluster.leaseMs` after its last renewal; each node renews its entries' own expiry as
 * a backstop. Every transition is one Lua script, so exactly one node sees a user's first arrival
 * in a room (and announces `presence.joined`) and exactly one sees their last departure (and
 * announces `presence.left`), whether that departure is a leave or the sweep of a dead node.
 */
import type { Redis } from 'ioredis';
import { MAX_LISTED, type PresenceBackend, type PresenceEntry, type PresenceMember } from '../presence/room-presence.js';
import { REDIS_NOW } from './nodes.js';

/** Lua: `live(zkey, prune)` counts the nodes of a user's entry that are alive; with prune, removes the others. */
const LIVE = `${REDIS_NOW}
local function live(zkey, prune)
  local count = 0
  local members = redis.call('ZRANGE', zkey, 0, -1, 'WITHSCORES')
  for i = 1, #members, 2 do
    local node = members[i]
    local lease = redis.call('ZSCORE', KEYS[1], node)
    if tonumber(members[i + 1]) >= now and lease and tonumber(lease) >= now then
      count = count + 1
    elseif prune then
      redis.call('ZREM', zkey, node)
    end
  end
  return count
end`;

/** KEYS: nodes, room hash, user set; ARGV: node, ttl, user, name. Returns 1 when no other node had the user. */
const ADD = `${LIVE}
redis.call('ZREM', KEYS[3], ARGV[1])
local others = live(KEYS[3], true)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[3], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ttl)
if others == 0 then return 1 end
return 0
`;

/** KEYS: nodes, room hash, user set; ARGV: node, user. Returns 1 when the user is now present nowhere. */
const REMOVE = `${LIVE}
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then return 0 end
if live(KEYS[3], true) > 0 then return 0 end
redis.call('DEL', KEYS[3])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1
`;

/** KEYS: nodes, room hash; ARGV: user set prefix, limit. Returns a flat list of id, name of the users present on a live node. */
const LIST = `${LIVE}
local out = {}
local all = redis.call('HGETALL', KEYS[2])
local limit = tonumber(ARGV[2])
for i = 1, #all, 2 do
  if live(ARGV[1] .. all[i], false) > 0 then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
    if #out >= limit * 2 then break end
  end
end
return out
`;

/** KEYS: nodes; ARGV: key prefix, rooms... Returns a flat list of room, id, name of the users the sweep removed. */
const SWEEP = `${LIVE}
local out = {}
for r = 2, #ARGV do
  local room = ARGV[r]
  local hash = ARGV[1] .. room
  local all = redis.call('HGETALL', hash)
  for i = 1, #all, 2 do
    local zkey = hash .. ':' .. all[i]
    if live(zkey, true) == 0 then
      redis.call('DEL', zkey)
      redis.call('HDEL', hash, all[i])
      out[#out + 1] = room
      out[#out + 1] = all[i]
      out[#out + 1] = all[i + 1]
    end
  end
end
return out
`;

/** KEYS: room hash, user set (pairs); ARGV: node, ttl, then user, name per pair. */
const RENEW = `${REDIS_NOW}
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS, 2 do
  local j = (i + 1) / 2
  redis.call('ZADD', KEYS[i + 1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[i + 1], ttl)
  redis.call('HSET', KEYS[i], ARGV[1 + j * 2], ARGV[2 + j * 2])
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return 1
`;

/** Lua: the ids of the nodes that hold a lease. */
const LIVE_NODES = `${REDIS_NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
`;

/** Entries renewed per script call. */
const RENEW_BATCH = 200;
/** Rooms swept per script call. */
const SWEEP_BATCH = 100;
/** Sweeps happen when a node's lease ended, and at least this often (the entries' own expiry). */
const SWEEP_EVERY_MS = 10_000;

export interface RedisRoomPresenceOptions {
  client: Redis;
  prefix: string;
  nodeId: string;
  /** The node leases' sorted set (nodes.ts). */
  nodesKey: string;
  /** How long an entry lives without a renewal (the backstop; node leases act faster). @default 30000 */
  ttlMs?: number;
}

export class RedisRoomPresence implements PresenceBackend {
  private readonly ttlMs: number;
  private readonly roomPrefix: string;
  private knownNodes = new Set<string>();
  private lastSweep = 0;

  constructor(private readonly options: RedisRoomPresenceOptions) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.roomPrefix = `${options.prefix}rp:`;
  }

  private roomKey(room: string): string {
    return this.roomPrefix + room;
  }

  private userKey(room: string, user: string): string {
    return `${this.roomPrefix}${room}:${user}`;
  }

  async add(room: string, user: PresenceMember): Promise<boolean> {
    const { client, nodesKey, nodeId } = this.options;
    return Number(await client.eval(ADD, 3, nodesKey, this.roomKey(room), this.userKey(room, user.id), nodeId, this.ttlMs, user.id, user.name)) === 1;
  }

  async remove(room: string, user: string): Promise<boolean> {
    const { client, nodesKey, nodeId } = this.options;
    return Number(await client.eval(REMOVE, 3, nodesKey, this.roomKey(room), this.userKey(room, user), nodeId, user)) === 1;
  }

  async list(room: string): Promise<PresenceMember[]> {
    const flat = (await this.options.client.eval(LIST, 2, this.options.nodesKey, this.roomKey(room), `${this.roomKey(room)}:`, MAX_LISTED)) as string[];
    const out: PresenceMember[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i]!, name: flat[i + 1]! });
    return out;
  }

  async renew(entries: ReadonlyArray<PresenceEntry>): Promise<void> {
    for (let i = 0; i < entries.length; i += RENEW_BATCH) {
      const batch = entries.slice(i, i + RENEW_BATCH);
      const keys = batch.flatMap((e) => [this.roomKey(e.room), this.userKey(e.room, e.user.id)]);
      const args = batch.flatMap((e) => [e.user.id, e.user.name]);
      await this.options.client.eval(RENEW, keys.length, ...keys, this.options.nodeId, this.ttlMs, ...args);
    }
  }

  /**
   * Sweeps only when a node's lease ended since the last look (one small read otherwise), and every
   * `SWEEP_EVERY_MS` for entries that expired on their own.
   */
  async sweep(rooms: readonly string[]): Promise<Array<{ room: string; user: PresenceMember }>> {
    const { client, nodesKey } = this.options;
    const live = new Set((await client.eval(LIVE_NODES, 1, nodesKey)) as string[]);
    let lost = false;
    for (const node of this.knownNodes) if (!live.has(node)) lost = true;
    this.knownNodes = live;
    const now = Date.now();
    if (!lost && now - this.lastSweep < SWEEP_EVERY_MS) return [];
    this.lastSweep = now;
    const gone: Array<{ room: string; user: PresenceMember }> = [];
    for (let i = 0; i < rooms.length; i += SWEEP_BATCH) {
      const flat = (await client.eval(SWEEP, 1, nodesKey, this.roomPrefix, ...rooms.slice(i, i + SWEEP_BATCH))) as string[];
      for (let j = 0; j + 2 < flat.length; j += 3) gone.push({ room: flat[j]!, user: { id: flat[j + 1]!, name: flat[j + 2]! } });
    }
    return gone;
  }
}
