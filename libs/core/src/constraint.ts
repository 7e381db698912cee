import type { Parsed } from './quantity';

/**
 * A placement constraint as operators write it: `node.labels.zone == a`, `node.name != n3`.
 * Parsed once; the scheduler matches parsed constraints against nodes.
 */
export interface Constraint {
  readonly attribute: { readonly kind: 'label'; readonly key: string } | { readonly kind: 'name' };
  readonly op: '==' | '!=';
  readonly value: string;
}

const FORM = /^\s*node\.(?:labels\.([A-Za-z0-9][-A-Za-z0-9_./]*)|(name))\s*(==|!=)\s*(\S+)\s*$/;

export function parseConstraint(text: string): Parsed<Constraint> {
  const m = FORM.exec(text);
  if (!m) {
    return {
      ok: false,
      reason: `"${text}" is not a constraint (use "node.labels.KEY == VALUE", "node.labels.KEY != VALUE" or "node.name == NAME")`,
    };
  }
  const attribute = m[2] ? ({ kind: 'name' } as const) : ({ kind: 'label', key: m[1]! } as const);
  return { ok: true, value: { attribute, op: m[3] as '==' | '!=', value: m[4]! } };
}

export function formatConstraint(c: Constraint): string {
  const attr = c.attribute.kind === 'name' ? 'node.name' : `node.labels.${c.attribute.key}`;
  return `${attr} ${c.op} ${c.value}`;
}

const SPREAD_BY = /^\s*node\.labels\.(\S+?)\s*$/;

/** `placement.spreadBy` as operators write it, `node.labels.zone`, → the label key (`zone`). */
export function parseSpreadBy(text: string): Parsed<string> {
  const m = SPREAD_BY.exec(text);
  if (!m) return { ok: false, reason: `"${text}" is not a node label to spread by (use "node.labels.KEY", like "node.labels.zone")` };
  return { ok: true, value: m[1]! };
}
