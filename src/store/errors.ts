/** The room was deleted while a write for it was queued. */
export class RoomGoneError extends Error {
  override name = 'RoomGoneError';
  constructor() {
    super('room no longer exists');
  }
}
