/**
 * What the domain knows of a connection: who is on it and which rooms it follows. The domain
 * never sees a socket; transports implement this port.
 */
export interface Principal {
  id: string;
  name: string;
  roles: readonly string[];
  admin: boolean;
}

export interface Session {
  readonly connectionId: string;
  readonly ip: string;
  readonly user: Principal;
  /** Joined rooms: name -> room id. */
  readonly rooms: ReadonlyMap<string, number>;
  /**
   * Rooms this user was found to be a member of without joining them on this connection
   * (name -> id): spares a store read per `chat.send`. Dropped with the room on kick, leave or
   * delete; a stale entry for a deleted room only yields NOT_FOUND at append time.
   */
  readonly memberships: ReadonlyMap<string, number>;
  /** Adds to `memberships` (bounded: past the bound the remembered rooms are forgotten). */
  rememberMembership(room: string, roomId: number): void;
  forgetMembership(room: string): void;
  /**
   * Follows the room's live messages. A returned promise is awaited before the room's history is
   * read (a cluster node first learns where the room's live delivery starts).
   */
  join(room: string, roomId: number): Promise<void> | undefined;
  leave(room: string): void;
  /**
   * Tells the transport this frame's writes are queued in order (not yet committed): the
   * connection's next frame may start now. Frames still see their effects in arrival order
   * because the store applies queued operations in order.
   */
  ordered(): void;
}
