/**
 * Frame size and compression (docs/protocol.md, "Session"): one oversized frame must close the
 * socket 1009 before authentication, and a compressed frame must be held to the same limit
 * after inflation — else a 2 KiB frame becomes megabytes of server memory.
 */
import { closeCode, type Probe } from './probe.js';
import type { CheckResult } from './types.js';

const KIB = 1024;
const SMALL_LIMIT = 256 * KIB;
const LARGE_LIMIT = 1024 * KIB;
/** Inflates to this; compresses to about 2 KiB. */
const BOMB_BYTES = 2 * 1024 * KIB;

async function closesTooBig(probe: Probe, bytes: number, compressed = false): Promise<number> {
  const ws = await probe.websocket({ perMessageDeflate: compressed });
  const closed = closeCode(ws);
  ws.send(' '.repeat(bytes), { compress: compressed });
  const code = await closed;
  ws.terminate();
  return code;
}

export async function checkFrameSize(probe: Probe): Promise<CheckResult> {
  const id = 'frame-size';
  const title = 'Frame size limit';
  const first = await closesTooBig(probe, SMALL_LIMIT + 1);
  if (first === 1009) return { id, title, status: 'pass', evidence: `a ${SMALL_LIMIT / KIB} KiB + 1 byte frame before authentication → close 1009`, fix: '' };
  const second = await closesTooBig(probe, LARGE_LIMIT + 1);
  if (second === 1009) {
    return {
      id,
      title,
      status: 'warn',
      evidence: `a ${SMALL_LIMIT / KIB} KiB frame was read (close ${first}), a 1 MiB + 1 byte frame → close 1009: limits.maxPayloadBytes is between 256 KiB and 1 MiB`,
      fix: 'Chat frames need a few KiB: keep limits.maxPayloadBytes at its default (16384) unless a client truly needs more.',
    };
  }
  return {
    id,
    title,
    status: 'fail',
    evidence: `a 1 MiB + 1 byte frame from an unauthenticated client was read (close ${second || 'none'}): limits.maxPayloadBytes is above 1 MiB`,
    fix: 'Lower limits.maxPayloadBytes (default 16384): every connection, authenticated or not, can make the server buffer that much.',
  };
}

export async function checkCompression(probe: Probe): Promise<CheckResult> {
  const id = 'compression';
  const title = 'Compression (permessage-deflate) off or bounded';
  const offer = await probe.handshake({ extensions: 'permessage-deflate; client_max_window_bits' });
  const accepted = String(offer.headers['sec-websocket-extensions'] ?? '');
  if (offer.status !== 101)
    return { id, title, status: 'warn', evidence: `upgrade offering permessage-deflate → ${offer.status || offer.error}`, fix: 'A legitimate upgrade must succeed.' };
  if (!/permessage-deflate/i.test(accepted)) return { id, title, status: 'pass', evidence: 'permessage-deflate offered → not negotiated (compression off)', fix: '' };
  const code = await closesTooBig(probe, BOMB_BYTES, true);
  if (code === 1009) {
    return {
      id,
      title,
      status: 'warn',
      evidence: `permessage-deflate negotiated; a compressed frame inflating to 2 MiB → close 1009 (bounded)`,
      fix: 'Compression costs CPU and memory per connection and lets message sizes leak secrets across messages (CRIME/BREACH-style): keep compression.enabled off unless bandwidth matters more.',
    };
  }
  return {
    id,
    title,
    status: 'fail',
    evidence: `permessage-deflate negotiated; a ~2 KiB compressed frame inflating to 2 MiB was read (close ${code || 'none'})`,
    fix: 'A decompression bomb: turn compression.enabled off, or lower limits.maxPayloadBytes (it bounds the inflated size).',
  };
}
