/**
 * The shape of every command, and the dispatcher that turns a group of them into a CLI with
 * `--help` and clear usage errors. Commands only parse, call one library function, and print.
 */
import { flag, parse, UsageError, type Options, type Parsed } from './args.js';
import type { Output } from './output.js';

export interface Context {
  output: Output;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  /** One line for the group's listing. */
  summary: string;
  /** Usage line after the command name, e.g. `[OPTION…] REF DEST`. */
  usage: string;
  /** Flags, with a description for `--help`. */
  options: Record<string, Options[string] & { description: string; argument?: string }>;
  run(args: Parsed, ctx: Context): Promise<number | void>;
}

export interface Group {
  name: string;
  summary: string;
  /** Flags accepted by every verb of the group (e.g. `--repo`). */
  globals: Command['options'];
  /** Each verb is a command, or a nested group (`mco ostree admin …`). */
  verbs: Record<string, { summary: string; load: () => Promise<Command | Group> }>;
  /** The verb run when the arguments name none (`mco apiserver --data-dir D` runs `serve`). */
  defaultVerb?: string;
  /**
   * A boolean flag that, given anywhere among the arguments, runs instead of any verb (`ostree
   * admin --print-current-dir`); parsed with the group's globals only, a verb name ignored.
   */
  instead?: { flag: string; run(args: Parsed, ctx: Context): Promise<number | void> };
  /** What `--version` before any verb prints (`ostree --version`'s YAML). */
  version?: () => string;
}

/** A verb whose module (exporting `command`) is loaded only when it runs: start-up stays small. */
export function lazyVerb(summary: string, load: () => Promise<{ command: Command }>): Group['verbs'][string] {
  return { summary, load: async () => (await load()).command };
}

const HELP: Command['options'] = { help: { type: 'boolean', short: 'h', description: 'Show help options' } };

function optionRows(options: Command['options'], title: string): string {
  const rows = Object.entries(options).map(([name, o]) => {
    const short = 'short' in o && o.short ? `-${o.short}, ` : '    ';
    const arg = o.type === 'string' ? `=${('argument' in o && o.argument) || 'VALUE'}` : '';
    return [`  ${short}--${name}${arg}`, o.description] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return `${title}\n${rows.map(([l, d]) => l.padEnd(width) + d).join('\n')}\n`;
}

function helpText(prog: string, cmd: Pick<Command, 'summary' | 'usage' | 'options'>): string {
  return `Usage:\n  ${prog} ${cmd.usage}\n\n${cmd.summary}\n\n${optionRows({ ...cmd.options, ...HELP }, 'Options:')}`;
}

/** A group's help, laid out as ostree's: `Builtin Commands:` up to a blank line, then the group's flags. */
export function groupHelp(prog: string, group: Group): string {
  const width = Math.max(...Object.keys(group.verbs).map((v) => v.length)) + 4;
  const verbs = Object.entries(group.verbs).map(([v, { summary }]) => `  ${v.padEnd(width)}${summary}`).join('\n');
  const globals = Object.keys(group.globals).length ? `\n${optionRows(group.globals, 'Application Options:')}` : '';
  return `Usage:\n  ${prog} ${group.name} [OPTION…] COMMAND\n\n${group.summary}\n\nBuiltin Commands:\n${verbs}\n${globals}\nRun '${prog} ${group.name} COMMAND --help' for a command's options.\n`;
}

/** Runs `argv` (after the group name) against the group's verbs. */
export async function runGroup(prog: string, group: Group, argv: string[], ctx: Context): Promise<number> {
  if (group.instead && argv.includes(`--${group.instead.flag}`)) {
    const parsed = parse(argv, { ...group.globals, [group.instead.flag]: { type: 'boolean' } } as Options);
    return (await group.instead.run(parsed, ctx)) ?? 0;
  }
  // Global flags may come before the verb, as `ostree --repo=R log REF` allows.
  let verbIndex = findVerb(argv, group.globals);
  let verbName = verbIndex < 0 ? undefined : argv[verbIndex];
  const asksHelp = argv.includes('--help') || argv.includes('-h');
  if (group.defaultVerb && verbName !== 'help' && !(verbName === undefined && asksHelp) && !(verbName !== undefined && verbName in group.verbs)) {
    // A flag value (`--listen ADDR`) or nothing at all: the arguments are the default verb's.
    argv = [group.defaultVerb, ...argv];
    verbIndex = 0;
    verbName = group.defaultVerb;
  }
  if (verbName === undefined && group.version && argv.includes('--version')) {
    ctx.output.out(group.version());
    return 0;
  }
  if (verbName === 'help' || (verbName === undefined && asksHelp)) {
    ctx.output.out(groupHelp(prog, group));
    return 0;
  }
  // As ostree: the group's usage on stderr, then the error; nothing on stdout.
  if (verbName === undefined) {
    ctx.output.err(groupHelp(prog, group));
    throw new UsageError('No command specified');
  }
  const verb = group.verbs[verbName];
  if (!verb) {
    ctx.output.err(groupHelp(prog, group));
    throw new UsageError(`Unknown command '${verbName}'`);
  }
  const cmd = await verb.load();
  const rest = [...argv.slice(0, verbIndex), ...argv.slice(verbIndex + 1)];
  if ('verbs' in cmd) return runGroup(`${prog} ${group.name}`, cmd, rest, ctx);
  // A verb's own short flag wins over a global's, as in ostree (`summary -v` is --view there,
  // --verbose everywhere else).
  const shorts = new Set(Object.values(cmd.options).map((o) => o.short));
  const globals = Object.fromEntries(Object.entries(group.globals).map(([name, o]) => {
    if (!o.short || !shorts.has(o.short)) return [name, o];
    const { short, ...long } = o;
    return [name, long];
  }));
  const options = { ...globals, ...cmd.options, ...HELP };
  const parsed = parse(rest, options as Options);
  if (flag(parsed, 'help')) {
    ctx.output.out(helpText(`${prog} ${group.name} ${verbName}`, { ...cmd, options: { ...globals, ...cmd.options } }));
    return 0;
  }
  return (await cmd.run(parsed, ctx)) ?? 0;
}

/** Index of the first positional, skipping the values of space-separated global flags. */
function findVerb(argv: string[], globals: Command['options']): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) return i;
    const name = a.startsWith('--') ? a.slice(2) : Object.keys(globals).find((k) => globals[k]!.short === a.slice(1));
    if (name && !name.includes('=') && globals[name]?.type === 'string') i++;
  }
  return -1;
}

/** Resolves on the first SIGINT or SIGTERM: how a serving command (`mco apiserver`, `mco registry serve`) waits. */
export function untilInterrupted(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
