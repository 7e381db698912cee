/**
 * A describe view is a list of labelled fields. A value is one line, several lines (aligned under
 * the first), or a nested list of fields (printed below the label, indented).
 */
export type FieldValue = string | readonly string[] | readonly Field[];
export type Field = readonly [label: string, value: FieldValue];

const NONE = '<none>';
const INDENT = '  ';

function isNested(value: FieldValue): value is readonly Field[] {
  return Array.isArray(value) && value.length > 0 && Array.isArray(value[0]);
}

/** Renders fields kubectl-describe style: labels padded so values line up within each level. */
export function renderFields(fields: readonly Field[], depth = 0): string[] {
  const pad = INDENT.repeat(depth);
  const width = Math.max(0, ...fields.filter(([, v]) => !isNested(v)).map(([label]) => label.length + 1)) + 2;
  const lines: string[] = [];
  for (const [label, value] of fields) {
    if (isNested(value)) {
      lines.push(`${pad}${label}:`, ...renderFields(value, depth + 1));
      continue;
    }
    const values = typeof value === 'string' ? [value] : (value as readonly string[]);
    const [first = NONE, ...rest] = values.length === 0 || values[0] === '' ? [NONE] : values;
    lines.push(`${pad}${`${label}:`.padEnd(width)}${first}`.trimEnd());
    for (const more of rest) lines.push(`${pad}${' '.repeat(width)}${more}`.trimEnd());
  }
  return lines;
}
