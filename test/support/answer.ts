/**
 * An answer of a store in comparable form, for tests that ask two stores the same thing: the
 * value, or the StoreError's code and message (any other error is a test failure and is thrown).
 */
import { StoreError } from '../../src/core/errors.js';

export async function answer(promise: Promise<unknown>): Promise<unknown> {
  try {
    return { value: await promise };
  } catch (error) {
    if (!(error instanceof StoreError)) throw error;
    return { code: error.code, message: error.message };
  }
}
