import { describe, expect, it } from 'vitest';
import { hashSecret, newToken, parseToken, secretMatches } from './tokens';

const FP = 'ab'.repeat(32);

describe('tokens', () => {
  it('a join token pins the CA and parses back to its id and secret; only the hash of the secret is kept', () => {
    const { token, id, secretHash } = newToken('join', FP);
    expect(token).toMatch(new RegExp(`^BERTHJ1-${FP}-[a-z0-9]{12}\\.[a-z0-9]{32}$`));
    const parsed = parseToken(` ${token}\n`)!;
    expect(parsed).toEqual({ kind: 'join', caFingerprint: FP, id, secret: token.split('.')[1] });
    expect(secretHash).toBe(hashSecret(parsed.secret));
    expect(token).not.toContain(secretHash);
    expect(secretMatches(parsed.secret, secretHash)).toBe(true);
  });

  it('an API token has no CA in it', () => {
    const { token, id } = newToken('api');
    expect(token).toMatch(/^BERTHA1-[a-z0-9]{12}\.[a-z0-9]{32}$/);
    expect(parseToken(token)).toMatchObject({ kind: 'api', id });
  });

  it('gives a new id and secret every time', () => {
    const tokens = new Set(Array.from({ length: 200 }, () => newToken('api').token));
    expect(tokens.size).toBe(200);
  });

  it('refuses a join token without a proper fingerprint, and reads nothing else as a token', () => {
    expect(() => newToken('join')).toThrow(/needs the CA fingerprint/);
    expect(() => newToken('join', 'abc')).toThrow(/64 hex digits/);
    for (const text of ['', 'hello', 'BERTHA1-short.secret', `BERTHJ1-${FP}-abcdefabcdef`, `BERTHA1-ABCDEFABCDEF.${'a'.repeat(32)}`, `BERTHJ2-${FP}-abcdefabcdef.${'a'.repeat(32)}`]) {
      expect(parseToken(text), text).toBeUndefined();
    }
  });

  it('a wrong secret, or a hash of another length, does not match', () => {
    const { token, secretHash } = newToken('api');
    const secret = token.split('.')[1]!;
    expect(secretMatches(`${secret.slice(0, -1)}${secret.endsWith('a') ? 'b' : 'a'}`, secretHash)).toBe(false);
    expect(secretMatches(secret, secretHash.slice(0, 10))).toBe(false);
  });
});
