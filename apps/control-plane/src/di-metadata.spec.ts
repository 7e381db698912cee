import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { describe, expect, it } from 'vitest';

@Injectable()
class Dependency {}

@Injectable()
class Consumer {
  constructor(readonly dep: Dependency) {}
}

// Canary: NestJS resolves constructor injection from decorator metadata. esbuild does not emit it;
// if the test toolchain ever loses SWC, every DI-based test would fail in confusing ways — this one
// fails first and says why.
describe('test toolchain', () => {
  it('emits decorator metadata for constructor injection', () => {
    expect(Reflect.getMetadata('design:paramtypes', Consumer)).toEqual([Dependency]);
  });
});
