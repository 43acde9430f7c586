/**
 * Parsing of option values that util.parseArgs leaves as strings: integers with bounds and
 * choices. A bad value is a CliError with EXIT_USAGE naming the option.
 */
import { CliError, EXIT_USAGE } from './exit-codes.js';

export function integerOption(name: string, text: string | boolean | undefined, min: number, max: number = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  if (typeof text !== 'string' || !/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < min || Number(text) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw new CliError(EXIT_USAGE, `--${name} must be ${range}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

export function choiceOption<T extends string>(name: string, text: string | boolean | undefined, choices: readonly T[], fallback: T): T {
  if (text === undefined) return fallback;
  if (typeof text !== 'string' || !(choices as readonly string[]).includes(text)) {
    throw new CliError(EXIT_USAGE, `--${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(text)}`);
  }
  return text as T;
}
