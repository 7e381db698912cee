import { describe, expect, it } from 'vitest';
import { parsePromText, PromTextError } from './prom-text';

describe('parsePromText', () => {
  it('reads samples with and without labels, skipping HELP, TYPE and blank lines', () => {
    const text = [
      '# HELP berth_node_capacity_cpu_cores CPU the node offers.',
      '# TYPE berth_node_capacity_cpu_cores gauge',
      'berth_node_capacity_cpu_cores{node="n1"} 4',
      '',
      'process_open_fds 12',
      'container_memory_working_set_bytes{node="n1",service="web",task="web.1.abc",slot="1"} 1.2582912e+07',
    ].join('\n');
    expect(parsePromText(text)).toEqual([
      { name: 'berth_node_capacity_cpu_cores', labels: { node: 'n1' }, value: 4 },
      { name: 'process_open_fds', labels: {}, value: 12 },
      { name: 'container_memory_working_set_bytes', labels: { node: 'n1', service: 'web', task: 'web.1.abc', slot: '1' }, value: 12_582_912 },
    ]);
  });

  it('unescapes \\\\, \\" and \\n in label values, commas and braces included', () => {
    const [sample] = parsePromText(String.raw`x{path="C:\\tmp",msg="say \"hi\"\nbye",odd="a,b}c"} 1`);
    expect(sample!.labels).toEqual({ path: 'C:\\tmp', msg: 'say "hi"\nbye', odd: 'a,b}c' });
  });

  it('takes a trailing comma, spaces around labels, tabs, CRLF, empty braces and a timestamp', () => {
    expect(parsePromText('a{ k = "v" , } 2 1700000000000\r\nb{}\t-3.5\n')).toEqual([
      { name: 'a', labels: { k: 'v' }, value: 2, timestampMs: 1_700_000_000_000 },
      { name: 'b', labels: {}, value: -3.5 },
    ]);
  });

  it('reads NaN and infinities', () => {
    expect(parsePromText('a NaN\nb +Inf\nc -Inf').map((s) => s.value)).toEqual([NaN, Infinity, -Infinity]);
  });

  it('with `only`, keeps those metric names and does not look at the other lines any further', () => {
    const text = 'keep{a="1"} 1\nother{broken 7\nkeep 2';
    expect(parsePromText(text, new Set(['keep'])).map((s) => s.value)).toEqual([1, 2]);
  });

  it.each([
    ['a{k="v"}', 'line 1: expected "a" to be followed by a value and at most a timestamp'],
    ['a{k="v"}1', 'line 1: expected "a" to be followed by a value and at most a timestamp'],
    ['a one', 'line 1: "one" is not a sample value'],
    ['a 0x10', 'line 1: "0x10" is not a sample value'],
    ['a 1 2 3', 'line 1: expected "a" to be followed by a value and at most a timestamp'],
    ['a 1 soon', 'line 1: "soon" is not a timestamp in milliseconds'],
    ['a{k="v} 1', 'line 1: label "k" has no closing quote'],
    ['a{k="\\t"} 1', 'line 1: label "k" has an unknown escape "\\t"'],
    ['a{k=v} 1', 'line 1: expected a quoted value for label "k"'],
    ['a{k} 1', 'line 1: expected "=" after label "k"'],
    ['a{k="v" j="w"} 1', 'line 1: expected "," or "}" after label "k"'],
    ['# fine\n{k="v"} 1', 'line 2: expected a metric name at column 1'],
  ])('refuses %j naming the line: %s', (text, message) => {
    expect(() => parsePromText(text)).toThrow(PromTextError);
    expect(() => parsePromText(text)).toThrow(message);
  });
});
