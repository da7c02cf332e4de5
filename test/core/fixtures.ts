/**
 * Shared pieces of the core integration suite. The core tests exercise rooms, messages and the
 * router, not the rate limits or abuse scoring (those have their own suites), so they run with
 * limits loose enough that hundreds of frames and dozens of deliberate refusals from one loopback
 * address are never throttled or banned. Texts stay varied so no spam rule is tripped.
 */
import type { Frame, TestClient } from '../helpers/client.js';

const LOOSE = { points: 1_000_000, durationMs: 60_000 };

/** Config for servers whose tests send many frames or open many sockets from 127.0.0.1. */
export const LOOSE_LIMITS: Record<string, unknown> = {
  abuse: { threshold: 1_000_000 },
  limits: { maxRoomsPerUser: 100_000 },
  rateLimits: {
    handshake: LOOSE,
    default: LOOSE,
    'chat.send': LOOSE,
    'room.create': LOOSE,
    'admin.broadcast': LOOSE,
  },
};

export interface WireUser {
  id: string;
  name: string;
}

export interface WireMessage {
  id: string;
  seq: number;
  room: string;
  user?: WireUser;
  text?: string;
  ts?: number;
  replyTo?: string;
  deleted?: true;
  editedAt?: number;
}

export interface WireRoom {
  name: string;
  owner: string;
  visibility: 'public' | 'private';
  createdAt: number;
}

/** The error code of a reply, or 'ack'. */
export function outcome(reply: Frame): string {
  return reply.type === 'ack' ? 'ack' : String(reply.code);
}

export function messagesOf(reply: Frame, field: 'messages' | 'history' = 'messages'): WireMessage[] {
  return reply[field] as WireMessage[];
}

export function seqs(messages: readonly WireMessage[]): number[] {
  return messages.map((m) => m.seq);
}

export function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/** `length` characters of varied text (no long run of one character, no link, no keyword). */
export function variedText(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += String.fromCharCode(97 + ((i * 7) % 26));
  return out;
}

/** Sends `count` messages one after another (each acknowledged before the next) and returns the acks. */
export async function sendMany(client: TestClient, room: string, count: number, text = (i: number) => `m${i}`): Promise<Frame[]> {
  const acks: Frame[] = [];
  for (let i = 1; i <= count; i++) acks.push(await client.ok({ type: 'chat.send', room, text: text(i) }));
  return acks;
}

/** Drops frames of a type already received (e.g. the chat.message echoes of a bulk send). */
export function discard(client: TestClient, type: string): void {
  for (let i = client.frames.length - 1; i >= 0; i--) if (client.frames[i]!.type === type) client.frames.splice(i, 1);
}

/** The close code and reason, or code -1 when the socket is still open after `ms` (a fast, clear failure). */
export function closedWithin(client: TestClient, ms = 5000): Promise<{ code: number; reason: string }> {
  return Promise.race([
    client.closed,
    new Promise<{ code: number; reason: string }>((resolve) => setTimeout(() => resolve({ code: -1, reason: `still open after ${ms} ms` }), ms).unref()),
  ]);
}

/** A plain-text HTTP GET against the test server. */
export async function get(url: string): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(url);
  return { status: res.status, headers: res.headers, text: await res.text() };
}
