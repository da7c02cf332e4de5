/** Routes a validated, guarded frame to the domain operation that answers it. */
import type { ClientFrame } from '../protocol/frames.js';
import type { Messages } from './messages.js';
import { refuse, type Reply } from './reply.js';
import type { Rooms } from './rooms.js';
import type { Session } from './session.js';

export function createDispatch(rooms: Rooms, messages: Messages) {
  return function dispatch(session: Session, frame: ClientFrame): Promise<Reply> | Reply {
    switch (frame.type) {
      case 'chat.send':
        return messages.send(session, frame);
      case 'chat.history':
        return messages.history(session, frame);
      case 'chat.delete':
        return messages.delete(session, frame);
      case 'chat.edit':
        return messages.edit(session, frame);
      case 'chat.typing':
        return messages.typing(session, frame);
      case 'presence':
        return messages.presence(session, frame);
      case 'room.create':
        return rooms.create(session, frame);
      case 'room.join':
        return rooms.join(session, frame);
      case 'room.leave':
        return rooms.leave(session, frame);
      case 'room.invite':
        return rooms.invite(session, frame);
      case 'room.kick':
        return rooms.kick(session, frame);
      case 'room.delete':
        return rooms.delete(session, frame);
      case 'room.list':
        return rooms.list(session, frame);
      case 'admin.broadcast':
        return messages.broadcast(session, frame);
      case 'auth':
      case 'auth.refresh':
        // Handled by the pipeline before dispatch.
        return refuse('BAD_REQUEST', 'Unexpected authentication frame.');
    }
  };
}
