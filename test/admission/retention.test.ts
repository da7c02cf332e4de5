/**
 * An open connection keeps nothing of its upgrade (src/admission/upgrade.ts, ticket.ts): the upgrade
 * timeout, whose callback holds the handshake request (headers, URL), and the upgrade's own
 * `close` listener are let go once the connection opens, on /ws and on Socket.IO. The slot is
 * still given back when the connection closes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect } from '../helpers/client.js';
import { eventually } from '../handshake/support.js';
import { sioConnect } from '../socketio/support.js';
import type { Connection } from '../../src/transport/connection.js';
import type { Ticket } from '../../src/admission/ticket.js';

function openConnections(server: TestServer): Connection[] {
  return [...server.bulwark.hub.peers()] as Connection[];
}

describe('what an open connection keeps of its upgrade', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  for (const transport of ['ws', 'socket.io'] as const) {
    it(`${transport}: no upgrade timer and no upgrade close listener once open; the slot comes back on close`, async () => {
      const client = transport === 'ws' ? await connect(server, `keep-${transport}`) : await sioConnect(server, `keep-${transport}`);
      const [conn] = openConnections(server);
      assert.ok(conn, 'the connection is open');
      const ticket = conn.ticket as Ticket;
      assert.equal(ticket.state, 'authenticated');
      assert.equal(ticket.deadline, undefined, 'the upgrade timeout (and the request its callback holds) is dropped');
      assert.equal(ticket.onOpened, undefined);
      if (transport === 'ws') {
        const socket = (conn as unknown as { out: { socket: Socket } }).out.socket;
        // ws's own listener only: the upgrade's `once('close')` (and the attempt it holds) is gone.
        const names = socket.listeners('close').map((l) => (l as { listener?: { name?: string } }).listener?.name ?? l.name);
        assert.ok(!names.includes('onClose'), `close listeners: ${names.join(', ')}`);
      }
      client.close();
      assert.ok(await eventually(() => server.bulwark.hub.openCount === 0 && ticket.state === 'released'), 'released on close');
    });
  }
});
