/**
 * The admin console's list of live connections (docs/admin.md "Admin API"). On a single node it is
 * the hub's own list. In a cluster every node holds only its own connections, so the asking node
 * publishes a query on the bus, every node (itself included) answers with its list, and the
 * answers that arrive within `timeoutMs` make the result: a node that is slow or gone is left out,
 * and the result says so, rather than holding the console up.
 *
 * Bounded: each node lists at most `limit` connections (after the user and IP filters) and says
 * how many it has in all; each connection at most 20 rooms; pending queries live no longer than
 * their timeout.
 */
import { randomUUID } from 'node:crypto';
import type { Bus, ConnectionSummary, DirectoryMessage } from '../bus/bus.js';
import type { Hub } from '../fanout/hub.js';

export interface DirectoryFilter {
  user?: string | undefined;
  ip?: string | undefined;
}

export interface NodeListing {
  node: string;
  /** Connections on the node matching the filters (may be more than listed). */
  total: number;
  connections: ConnectionSummary[];
}

export interface Listing {
  /** Newest first. */
  connections: ConnectionSummary[];
  nodes: Array<{ node: string; total: number }>;
  /** Whether more connections matched than were listed. */
  truncated: boolean;
  /** Cluster: how long answers were awaited (ms); 0 on a single node. */
  waitedMs: number;
}

export const LIST_LIMIT = 500;

interface Pending {
  replies: NodeListing[];
}

export class ConnectionDirectory {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly bus: Bus,
    private readonly hub: Hub,
    readonly nodeId: string,
    private readonly options: { clustered: boolean; timeoutMs: number },
  ) {}

  /** This node's connections matching the filters, newest first. */
  local(filter: DirectoryFilter, limit = LIST_LIMIT): NodeListing {
    const matching: ConnectionSummary[] = [];
    for (const peer of this.hub.peers()) {
      const info = peer.describe?.();
      if (!info) continue;
      if (filter.user !== undefined && info.user !== filter.user) continue;
      if (filter.ip !== undefined && info.ip !== filter.ip) continue;
      matching.push({ node: this.nodeId, ...info });
    }
    matching.sort((a, b) => b.since - a.since);
    return { node: this.nodeId, total: matching.length, connections: matching.slice(0, limit) };
  }

  async list(filter: DirectoryFilter): Promise<Listing> {
    if (!this.options.clustered) return listing([this.local(filter)], 0);
    const id = randomUUID();
    const pending: Pending = { replies: [] };
    this.pending.set(id, pending);
    const started = Date.now();
    this.bus.publish({ target: { kind: 'connection', connectionId: '' }, frame: '', effect: { directory: { query: { id, from: this.nodeId, ...filter, limit: LIST_LIMIT } } } });
    await new Promise((resolve) => setTimeout(resolve, this.options.timeoutMs).unref());
    this.pending.delete(id);
    return listing(pending.replies, Date.now() - started);
  }

  /** A directory message from the bus (this node's own included). */
  receive(message: DirectoryMessage): void {
    if ('query' in message) {
      const { id, from, user, ip, limit } = message.query;
      const mine = this.local({ user, ip }, Math.min(limit, LIST_LIMIT));
      this.bus.publish({ target: { kind: 'connection', connectionId: '' }, frame: '', effect: { directory: { reply: { id, to: from, ...mine } } } });
      return;
    }
    const { id, to, node, total, connections } = message.reply;
    const pending = to === this.nodeId ? this.pending.get(id) : undefined;
    // One answer per node, however often the bus repeats it.
    if (pending && !pending.replies.some((r) => r.node === node)) pending.replies.push({ node, total, connections: connections.slice(0, LIST_LIMIT) });
  }
}

function listing(nodes: NodeListing[], waitedMs: number): Listing {
  const connections = nodes.flatMap((n) => n.connections).sort((a, b) => b.since - a.since);
  return {
    connections,
    nodes: nodes.map((n) => ({ node: n.node, total: n.total })).sort((a, b) => a.node.localeCompare(b.node)),
    truncated: nodes.some((n) => n.total > n.connections.length),
    waitedMs,
  };
}
