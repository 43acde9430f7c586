/**
 * A tiny argument reader for the campaign scripts: `--name value`, `--flag`, and positionals.
 */
export interface Args {
  positional: string[];
  value(name: string, env?: string): string | undefined;
  number(name: string, fallback: number, env?: string): number;
  flag(name: string): boolean;
}

export function parseArgs(argv: readonly string[]): Args {
  const positional: string[] = [];
  const named = new Map<string, string | true>();
  for (let index = 0; index < argv.length; index++) {
    const item = argv[index]!;
    if (!item.startsWith('--')) {
      positional.push(item);
      continue;
    }
    const [name, inline] = item.slice(2).split('=', 2) as [string, string | undefined];
    if (inline !== undefined) named.set(name, inline);
    else if (index + 1 < argv.length && !argv[index + 1]!.startsWith('--')) named.set(name, argv[++index]!);
    else named.set(name, true);
  }
  const value = (name: string, env?: string): string | undefined => {
    const given = named.get(name);
    if (typeof given === 'string') return given;
    return env === undefined ? undefined : process.env[env];
  };
  return {
    positional,
    value,
    number(name, fallback, env) {
      const text = value(name, env);
      if (text === undefined) return fallback;
      const parsed = Number(text);
      if (!Number.isSafeInteger(parsed) || parsed < 0) throw new Error(`--${name} must be a non-negative integer, not ${JSON.stringify(text)}`);
      return parsed;
    },
    flag: (name) => named.get(name) === true || named.get(name) === 'true',
  };
}
