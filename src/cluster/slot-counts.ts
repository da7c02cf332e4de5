/**
 * Connection places counted across the cluster (contract section 5: the total, per-IP and
 * pending-auth caps hold cluster-wide), for admission's counter interface (`AdmissionCounts`:
 * `tryAcquire(ip)`, `release(ip)`, `total()`, `perIp(ip)`).
 *
 * Redis holds, per budget, one hash for the total and one per IP, with one field per node: that
 * node's places. A Lua script sums the fields of live nodes (node leases, nodes.ts; a dead node's
 * fields are dropped on the way), refuses at the cap, else adds one to this node's field, all in one
 * step, so N concurrent handshakes on N nodes cannot overshoot. The work per handshake grows with
 * the number of nodes, not of connections.
 *
 * This node also counts its own places (`total()` and `perIp()` are its view). While Redis is
 * unreachable it admits by that count at its share of each cap (`limit ÷ live nodes`), and when
 * Redis is back it writes its true counts over its fields, so releases lost in the outage do not
 * hold places forever.
 */
import type { Redis } from 'ioredis';
import type { ClusterHealth } from './health.js';
import type { NodeLeases } from './nodes.js';
import { REDIS_NOW } from './nodes.js';

export type SlotScope = 'node' | 'ip';
export type SlotVerdict = { ok: true } | { ok: false; scope: SlotScope };

const GRANTED: SlotVerdict = Object.freeze({ ok: true });
const NODE_FULL: SlotVerdict = Object.freeze({ ok: false, scope: 'node' });
const IP_FULL: SlotVerdict = Object.freeze({ ok: false, scope: 'ip' });

/** Lua: KEYS = total hash, IP hash, nodes lease set; ARGV = node id, max, max per IP, IP hash TTL. 1 granted, 0 total full, -1 IP full. */
const ACQUIRE = `${REDIS_NOW}
local function live(key)
  local sum = 0
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    local lease = redis.call('ZSCORE', KEYS[3], fields[i])
    if lease and tonumber(lease) >= now then sum = sum + tonumber(fields[i + 1])
    else redis.call('HDEL', key, fields[i]) end
  end
  return sum
end
if live(KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
if live(KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
`;

/** Lua: one place of this node given back (KEYS: total hash, IP hash; ARGV: node id). */
const RELEASE = `
for _, key in ipairs(KEYS) do
  if redis.call('HINCRBY', key, ARGV[1], -1) <= 0 then redis.call('HDEL', key, ARGV[1]) end
end
return 1
`;

/** A per-IP hash lives this long without a handshake from that IP (its node's fields are refreshed on recovery). */
const IP_HASH_TTL_MS = 24 * 3600_000;
/** IPs whose count changed while Redis was unreachable, rewritten when it is back; beyond this, their hashes expire. */
const MAX_DIRTY = 100_000;

export interface SlotCountsOptions {
  client: Redis;
  /** Key prefix of this budget, e.g. `bulwark:slots:` or `bulwark:pending:`. */
  prefix: string;
  /** Where node leases live (`<cluster prefix>nodes`). */
  nodesKey: string;
  nodeId: string;
  limits: { readonly max: number; readonly maxPerIp: number };
  health: Pick<ClusterHealth, 'ok'>;
  nodes: Pick<NodeLeases, 'share'>;
  onError?: (err: Error) => void;
}

export class ClusterSlotCounts {
  private taken = 0;
  private readonly byIp = new Map<string, number>();
  /** IPs released while Redis was unreachable: their fields may be too high. */
  private dirty = new Set<string>();

  constructor(private readonly options: SlotCountsOptions) {}

  private totalKey(): string {
    return `${this.options.prefix}total`;
  }

  private ipKey(ip: string): string {
    return `${this.options.prefix}ip:${ip}`;
  }

  async tryAcquire(ip: string): Promise<SlotVerdict> {
    const { limits, health, nodes } = this.options;
    if (health.ok) {
      try {
        const granted = Number(
          await this.options.client.eval(ACQUIRE, 3, this.totalKey(), this.ipKey(ip), this.options.nodesKey, this.options.nodeId, limits.max, limits.maxPerIp, IP_HASH_TTL_MS),
        );
        if (granted === 0) return NODE_FULL;
        if (granted === -1) return IP_FULL;
        this.take(ip);
        return GRANTED;
      } catch (err) {
        this.options.onError?.(err as Error);
      }
    }
    // Redis unreachable: this node's own count, at its share of each cap.
    if (this.taken >= nodes.share(limits.max)) return NODE_FULL;
    if ((this.byIp.get(ip) ?? 0) >= nodes.share(limits.maxPerIp)) return IP_FULL;
    this.take(ip);
    return GRANTED;
  }

  release(ip: string): void {
    const mine = this.byIp.get(ip);
    if (mine === undefined) return;
    this.taken--;
    if (mine <= 1) this.byIp.delete(ip);
    else this.byIp.set(ip, mine - 1);
    if (!this.options.health.ok) return this.mark(ip);
    this.options.client.eval(RELEASE, 2, this.totalKey(), this.ipKey(ip), this.options.nodeId).catch((err: unknown) => {
      this.mark(ip);
      this.options.onError?.(err as Error);
    });
  }

  total(): number {
    return this.taken;
  }

  perIp(ip: string): number {
    return this.byIp.get(ip) ?? 0;
  }

  private take(ip: string): void {
    this.taken++;
    this.byIp.set(ip, (this.byIp.get(ip) ?? 0) + 1);
  }

  private mark(ip: string): void {
    if (this.dirty.size < MAX_DIRTY) this.dirty.add(ip);
  }

  /**
   * Redis is back: this node's fields become its true counts (places taken or given back in the
   * outage, or fields another node dropped while this node's lease had lapsed).
   */
  async reconcile(): Promise<void> {
    const dirty = this.dirty;
    this.dirty = new Set();
    const { client, nodeId } = this.options;
    const batch = client.pipeline();
    if (this.taken > 0) batch.hset(this.totalKey(), nodeId, this.taken);
    else batch.hdel(this.totalKey(), nodeId);
    for (const [ip, mine] of this.byIp) batch.hset(this.ipKey(ip), nodeId, mine).pexpire(this.ipKey(ip), IP_HASH_TTL_MS);
    for (const ip of dirty) if (!this.byIp.has(ip)) batch.hdel(this.ipKey(ip), nodeId);
    try {
      await batch.exec();
    } catch (err) {
      for (const ip of dirty) this.mark(ip);
      this.options.onError?.(err as Error);
    }
  }
}
