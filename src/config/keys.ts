/**
 * Every configuration key path with the kind of value it takes, read from the closed schema
 * itself: the CLI uses it to accept `--origins.allowMissing` without a value (a boolean) and to
 * suggest the key an operator meant when one is mistyped.
 */
import { ConfigSchema } from './schema.js';

export type KeyKind = 'boolean' | 'number' | 'string' | 'enum' | 'array' | 'object' | 'record' | 'other';

interface SchemaNode {
  def: { type: string; innerType?: SchemaNode };
  shape?: Record<string, SchemaNode>;
}

function unwrap(node: SchemaNode): SchemaNode {
  let current = node;
  while ((current.def.type === 'default' || current.def.type === 'optional' || current.def.type === 'nullable') && current.def.innerType) current = current.def.innerType;
  return current;
}

function kindOf(node: SchemaNode): KeyKind {
  const type = unwrap(node).def.type;
  if (type === 'boolean' || type === 'number' || type === 'string' || type === 'enum' || type === 'array' || type === 'object' || type === 'record') return type;
  return 'other';
}

function walk(node: SchemaNode, prefix: string, out: Map<string, KeyKind>): void {
  const inner = unwrap(node);
  if (inner.def.type !== 'object' || !inner.shape) return;
  for (const [key, child] of Object.entries(inner.shape)) {
    const path = prefix ? `${prefix}.${key}` : key;
    out.set(path, kindOf(child));
    walk(child, path, out);
  }
}

let cached: ReadonlyMap<string, KeyKind> | undefined;

/** `limits` → object, `limits.maxPayloadBytes` → number, `origins.allowMissing` → boolean, … */
export function configKeys(): ReadonlyMap<string, KeyKind> {
  if (!cached) {
    const out = new Map<string, KeyKind>();
    walk(ConfigSchema as unknown as SchemaNode, '', out);
    cached = out;
  }
  return cached;
}
