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
  join(room: string, roomId: number): void;
  leave(room: string): void;
  /**
   * Tells the transport this frame's writes are queued in order (not yet committed): the
   * connection's next frame may start now. Frames still see their effects in arrival order
   * because the store applies queued operations in order.
   */
  ordered(): void;
}
