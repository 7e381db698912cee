import { getMetadataStorage } from 'class-validator';

/** The fields a DTO class declares (every declared field carries at least one decorator). */
export function knownFields(dtoClass: abstract new (...args: never[]) => unknown): string[] {
  const metas = getMetadataStorage().getTargetValidationMetadatas(dtoClass, '', true, false);
  return [...new Set(metas.map((m) => m.propertyName))];
}

/** Fields the control plane writes, which a manifest may not set: why, and what to write instead. */
const SERVER_OWNED: Readonly<Record<string, string>> = {
  imageDigest:
    'is not a known field: the control plane pins the digest at apply (shown as status.imageDigest); to pin an image yourself, write image: "host/repo@sha256:…"',
};

/** `is not a known field (did you mean "replicas"?)`, or the list of known fields when none is close. */
export function unknownFieldMessage(key: string, known: readonly string[]): string {
  const owned = Object.hasOwn(SERVER_OWNED, key) ? SERVER_OWNED[key] : undefined;
  if (owned) return owned;
  const near = closest(key, known);
  if (near) return `is not a known field (did you mean "${near}"?)`;
  return known.length > 0 ? `is not a known field (known fields: ${known.join(', ')})` : 'is not a known field';
}

/** The known name nearest to `key`, when a typo could explain the difference. */
export function closest(key: string, known: readonly string[]): string | undefined {
  const limit = Math.min(2, Math.floor(key.length / 3));
  // Names that differ in length by more than the limit are never close: skip the quadratic
  // distance (a 4,000,000-character key must cost nothing).
  const longest = known.reduce((n, name) => Math.max(n, name.length), 0);
  if (key.length > longest + limit) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = distance(key.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  // A case-only difference ("hostport") is distance 0 and always a good guess.
  return bestDistance <= limit ? best : undefined;
}

/** Optimal string alignment distance: edits, with a swap of neighbours counting as one. */
function distance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}
