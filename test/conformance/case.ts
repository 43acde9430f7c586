/**
 * The shape of one conformance case.
 */
import type { Store } from '../../src/core/store.js';

export interface CaseContext {
  /**
   * The restart point: a case calls `store = await ctx.reopen(store)` between its writes and its
   * checks. In plain runs it returns the same store; in the restart variant (B10) it closes the
   * store and opens it again on the same data. The harness closes whichever store is current.
   */
  reopen(store: Store): Promise<Store>;
}

export interface ConformanceCase {
  /** The reference's snake_case name, or `B<n> ...` for the cases this project adds. */
  name: string;
  run(store: Store, ctx: CaseContext): Promise<void>;
}

export function conformanceCase(name: string, run: ConformanceCase['run']): ConformanceCase {
  return { name, run };
}
