/**
 * The shared conformance suite (spec/conformance.md, Part 1 and the store-agnostic parts of
 * Part 3): the Store contract written as tests. Every store runs all of it:
 *
 *   runConformance('MemoryStore', async () => new MemoryStore());
 *
 * C1. One node:test test per case, named with the reference's snake_case name (the 30 reference
 *     cases) or `B<n> ...` (the cases this project adds).
 * C2. Each case gets a fresh store from `makeStore()` and closes it in `finally`; nothing else is
 *     needed from a store (no cleanup hook, no injectable clock).
 * C3. Cases are independent: every book, asset and account name comes from `unique()`.
 * C4. `skip` exists because the reference allowed it; in this project it must stay empty.
 * C5. `reopen` is the restart variant (B10): a case calls it between its writes and its checks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { Store } from '../../src/core/store.js';
import { BEYOND_CASES } from './beyond-cases.js';
import type { CaseContext, ConformanceCase } from './case.js';
import { REFERENCE_CASES } from './reference-cases.js';

export interface ConformanceOptions {
  /** Case names to skip. Must stay empty for every store in this project; kept for parity. */
  skip?: readonly string[];
  /**
   * Restart variant (B10): called between the writes and the checks of a case; returns the store
   * to check. Default: identity.
   */
  reopen?: (store: Store) => Promise<Store>;
}

const CONFORMANCE_CASES: readonly ConformanceCase[] = [...REFERENCE_CASES, ...BEYOND_CASES];

/** The reference's 30 case names, in the reference's order. */
export const REFERENCE_CASE_NAMES: readonly string[] = REFERENCE_CASES.map((conformanceCase) => conformanceCase.name);

/** Every case name, reference cases first. */
export const CONFORMANCE_CASE_NAMES: readonly string[] = CONFORMANCE_CASES.map((conformanceCase) => conformanceCase.name);

assert.equal(REFERENCE_CASE_NAMES.length, 30);
assert.equal(new Set(CONFORMANCE_CASE_NAMES).size, CONFORMANCE_CASE_NAMES.length, 'case names are unique');

export function runConformance(name: string, makeStore: () => Promise<Store>, options: ConformanceOptions = {}): void {
  const skip = new Set(options.skip ?? []);
  for (const skipped of skip) {
    assert.ok(CONFORMANCE_CASE_NAMES.includes(skipped), `unknown conformance case in skip: ${skipped}`);
  }
  const reopen = options.reopen ?? (async (store: Store) => store);

  describe(`conformance: ${name}`, () => {
    for (const conformanceCase of CONFORMANCE_CASES) {
      test(conformanceCase.name, { skip: skip.has(conformanceCase.name) }, async () => {
        let current = await makeStore();
        const ctx: CaseContext = {
          async reopen(store: Store): Promise<Store> {
            assert.equal(store, current, 'reopen is given the current store');
            current = await reopen(store);
            return current;
          },
        };
        try {
          await conformanceCase.run(current, ctx);
        } finally {
          await current.close();
        }
      });
    }
  });
}
