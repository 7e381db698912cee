import { Composer, Lexer, Parser, type CST, type Document, type LineCounter } from 'yaml';
import { LIMITS } from './bounds';
import type { Steps } from './steps';

/**
 * YAML tokens one file may hold (the lexer's, whitespace included): examples/web.yaml has 164, so
 * this is three times what LIMITS.documents such services need. Lexing stops as soon as a text
 * has more, so a 4 MiB text of a million tiny items is refused in ~0.1 s, not parsed for 10 s.
 */
export const MAX_YAML_TOKENS = 500_000;

/** Why a text is not composed, and where (an offset into it). */
export interface YamlRefusal {
  readonly message: string;
  readonly offset: number;
}

/**
 * `parseAllDocuments` with bounded work, in steps (one per document, and every 10,000 tokens while lexing): the token count is checked while lexing, then the
 * document count and every collection's size on the syntax tree, all before composing (yaml's
 * duplicate-key check is quadratic in a mapping's size: 100,000 keys take minutes).
 */
export function* readYaml(text: string, lines: LineCounter): Steps<Document[] | YamlRefusal> {
  let tokens = 0;
  for (const _ of new Lexer().lex(text)) {
    if (++tokens > MAX_YAML_TOKENS) {
      return { message: `has more than ${MAX_YAML_TOKENS.toLocaleString('en-US')} YAML tokens; one apply may have at most that many (at most ${LIMITS.documents} documents of ${LIMITS.entries} entries)`, offset: 0 };
    }
    if (tokens % 10_000 === 0) yield;
  }
  const cst: CST.Token[] = [];
  for (const token of new Parser(lines.addNewLine).parse(text)) {
    cst.push(token);
    yield;
  }
  const refusal = cstRefusal(cst);
  if (refusal) return refusal;
  const docs: Document[] = [];
  for (const doc of new Composer({ uniqueKeys: true }).compose(cst)) {
    docs.push(doc);
    yield;
  }
  return docs;
}

function cstRefusal(tokens: readonly CST.Token[]): YamlRefusal | undefined {
  let documents = 0;
  for (const token of tokens) {
    if (token.type !== 'document') continue;
    if (++documents > LIMITS.documents) return { message: `has more than ${LIMITS.documents} documents; one apply may have at most ${LIMITS.documents} (apply them in several steps)`, offset: token.offset };
    const found = collectionRefusal(token.value);
    if (found) return found;
  }
  return undefined;
}

function collectionRefusal(token: CST.Token | undefined): YamlRefusal | undefined {
  // An explicit stack: nesting depth is the input's to choose.
  const stack: (CST.Token | undefined)[] = [token];
  while (stack.length > 0) {
    const t = stack.pop();
    if (!t || (t.type !== 'block-map' && t.type !== 'block-seq' && t.type !== 'flow-collection')) continue;
    if (t.items.length > LIMITS.entries) {
      return { message: `has a ${t.type === 'block-seq' ? 'list' : 'collection'} of ${t.items.length.toLocaleString('en-US')} entries; at most ${LIMITS.entries} are allowed`, offset: t.offset };
    }
    for (const item of t.items) stack.push('key' in item ? (item.key as CST.Token | undefined) : undefined, item.value);
  }
  return undefined;
}
