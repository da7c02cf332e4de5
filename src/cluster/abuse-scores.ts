/**
 * Abuse scores shared by the nodes of a cluster (contract section 5; security/abuse.ts): one
 * Redis counter per user and per IP, living `abuse.windowMs` from its first violation. A Lua
 * script adds and checks in one step, so of all the nodes adding at once exactly one sees the
 * threshold reached, and that one bans. Keys expire with their window, so Redis holds only the
 * subjects that misbehaved within it.
 */
import type { Redis } from 'ioredis';
import type { SharedScores } from '../security/abuse.js';
import type { ClusterHealth } from './health.js';
import type { NodeLeases } from './nodes.js';

const ADD = `
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if v >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

export class RedisAbuseScores implements SharedScores {
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    private readonly health: Pick<ClusterHealth, 'ok'>,
    private readonly nodes: Pick<NodeLeases, 'share'>,
  ) {}

  get usable(): boolean {
    return this.health.ok;
  }

  share(limit: number): number {
    return this.nodes.share(limit);
  }

  async add(key: string, weight: number, threshold: number, windowMs: number): Promise<boolean> {
    return Number(await this.client.eval(ADD, 1, `${this.prefix}abuse:${key}`, weight, threshold, windowMs)) === 1;
  }
}
