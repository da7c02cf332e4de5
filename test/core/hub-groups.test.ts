/**
 * The hub's per-user and per-address groups hold a lone connection bare and make a Set only for
 * the second (src/fanout/hub.ts): counts, user- and address-targeted delivery and effects must be
 * the same whichever form a group is in, through every transition 0 → 1 → 3 → 1 → 0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hub, type Peer } from '../../src/fanout/hub.js';

class TestPeer implements Peer {
  readonly got: string[] = [];
  closedWith: number | undefined;
  readonly isAdmin = false;
  readonly jti: string | undefined;
  constructor(
    readonly connectionId: string,
    readonly userId: string | undefined,
    jti?: string,
  ) {
    this.jti = jti;
  }
  deliver(data: string): void {
    this.got.push(data);
  }
  dropRoom(): void {}
  close(code: number): void {
    this.closedWith = code;
  }
}

function connect(hub: Hub, peer: TestPeer, ip: string): void {
  hub.opened(peer, ip);
  hub.authenticatedPeer(peer);
}

describe('hub: connections grouped by user and by address', () => {
  it('counts and delivers the same with one connection, several, and after they leave', () => {
    const hub = new Hub();
    const a1 = new TestPeer('a1', 'alice', 'j1');
    const a2 = new TestPeer('a2', 'alice', 'j2');
    const a3 = new TestPeer('a3', 'alice', 'j3');
    const b1 = new TestPeer('b1', 'bob');
    const toAlice = (frame: string): void => hub.deliver({ target: { kind: 'user', user: 'alice' }, frame, type: 't' });
    const toIp = (ip: string, frame: string): void => hub.deliver({ target: { kind: 'ip', ip }, frame, type: 't' });

    assert.equal(hub.userCount('alice'), 0);
    connect(hub, a1, '10.0.0.1');
    connect(hub, b1, '10.0.0.2');
    assert.equal(hub.userCount('alice'), 1);
    assert.equal(hub.ipCount('10.0.0.1'), 1);
    toAlice('one');
    assert.deepEqual(a1.got, ['one']);
    assert.deepEqual(b1.got, [], 'another user gets nothing');

    connect(hub, a2, '10.0.0.1');
    connect(hub, a3, '10.0.0.3');
    assert.equal(hub.userCount('alice'), 3);
    assert.equal(hub.ipCount('10.0.0.1'), 2);
    toAlice('three');
    toIp('10.0.0.1', 'by address');
    assert.deepEqual(a1.got, ['one', 'three', 'by address']);
    assert.deepEqual(a2.got, ['three', 'by address']);
    assert.deepEqual(a3.got, ['three']);

    // An effect closing one token's connections iterates a snapshot while the group shrinks.
    hub.deliver({ target: { kind: 'user', user: 'alice' }, frame: '', effect: { jti: 'j2', close: { code: 4401, reason: 'revoked' } } });
    assert.equal(a2.closedWith, 4401);
    assert.equal(a1.closedWith, undefined);
    hub.closed(a2, '10.0.0.1', []);
    hub.closed(a3, '10.0.0.3', []);
    assert.equal(hub.userCount('alice'), 1, 'back to one connection');
    assert.equal(hub.ipCount('10.0.0.1'), 1);
    assert.equal(hub.ipCount('10.0.0.3'), 0);
    toAlice('last');
    assert.deepEqual(a1.got.at(-1), 'last');
    assert.equal(a2.got.at(-1), 'by address', 'a closed connection gets nothing more');

    hub.closed(a1, '10.0.0.1', []);
    assert.equal(hub.userCount('alice'), 0);
    assert.equal(hub.ipCount('10.0.0.1'), 0);
    toAlice('nobody');
    assert.equal(a1.got.at(-1), 'last');
    // The same connection reported twice changes nothing.
    hub.closed(a1, '10.0.0.1', []);
    connect(hub, a1, '10.0.0.1');
    hub.opened(a1, '10.0.0.1');
    assert.equal(hub.ipCount('10.0.0.1'), 1, 'a connection counts once');
    assert.equal(hub.userCount('bob'), 1);
  });
});
