/**
 * Authorization, in one place: "may this user do this to this room or message?" (contract
 * section 4 table). Pure functions of the facts; callers fetch the facts.
 */
import type { MembershipState, RoomRecord, StoredMessage } from '../store/store.js';
import type { Principal } from './session.js';

export type RoomAction = 'join' | 'read' | 'send' | 'invite' | 'kick' | 'delete';

export interface RoomFacts {
  room: RoomRecord;
  /** The actor's membership state in the room, if any. */
  state: MembershipState | undefined;
}

function manages(actor: Principal, room: RoomRecord): boolean {
  return actor.admin || room.owner === actor.id;
}

/**
 * Whether the actor may know the room exists. A private room is visible only to its owner, admins,
 * members and invitees; to anyone else every answer about it is the answer for a missing room
 * (`NOT_FOUND`), so its name cannot be probed (docs/protocol.md "Private rooms").
 */
export function maySeeRoom(actor: Principal, facts: RoomFacts): boolean {
  const { room, state } = facts;
  return room.visibility === 'public' || manages(actor, room) || state === 'member' || state === 'invited';
}

export function mayRoom(actor: Principal, action: RoomAction, facts: RoomFacts): boolean {
  const { room, state } = facts;
  switch (action) {
    case 'join':
      if (room.owner === actor.id || actor.admin) return true;
      if (state === 'kicked') return false;
      return room.visibility === 'public' || state === 'member' || state === 'invited';
    case 'read':
    case 'send':
      return state === 'member';
    case 'invite':
    case 'kick':
    case 'delete':
      return manages(actor, room);
  }
}

/** Deleting a message: its author, the room owner, or an admin. */
export function mayDeleteMessage(actor: Principal, room: RoomRecord, message: StoredMessage): boolean {
  return message.userId === actor.id || manages(actor, room);
}

/** Editing a message: its author only; the room owner and admins may delete it, not put words in its author's mouth. */
export function mayEditMessage(actor: Principal, message: StoredMessage): boolean {
  return message.userId === actor.id;
}

/** The owner cannot be kicked out of their own room. */
export function mayKickTarget(room: RoomRecord, target: string): boolean {
  return room.owner !== target;
}

export function mayBroadcast(actor: Principal): boolean {
  return actor.admin;
}

/** What the admin console and `/api/admin/*` do (docs/admin.md "Admin API"). */
export type AdminAction = 'view' | 'kick' | 'ban' | 'mute' | 'revoke' | 'disable' | 'invite' | 'announce';

/**
 * Whether the actor may use the admin console and its API for this action. Today every action
 * needs the `admin` role; the action is named so that a narrower role (a moderator who may kick
 * and mute) is one rule here, not a change to every route.
 */
export function mayAdminister(actor: Principal, action: AdminAction): boolean {
  void action;
  return actor.admin;
}
