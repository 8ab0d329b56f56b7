/** Process log (stderr, like Envoy's): leveled, with the string built only when the level is on. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warning' | 'error' | 'critical' | 'off';

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'];

let threshold = LOG_LEVELS.indexOf('info');
let scope = 'main';

export function setLogLevel(level: LogLevel): void {
  threshold = LOG_LEVELS.indexOf(level);
}

export function getLogLevel(): LogLevel {
  return LOG_LEVELS[threshold];
}

export function setLogScope(name: string): void {
  scope = name;
}

function write(level: LogLevel, msg: string): void {
  if (LOG_LEVELS.indexOf(level) < threshold) return;
  process.stderr.write(`${new Date().toISOString()}\t${level}\t${scope}\t${msg}\n`);
}

export const log = {
  enabled: (level: LogLevel) => LOG_LEVELS.indexOf(level) >= threshold,
  debug: (msg: string) => write('debug', msg),
  info: (msg: string) => write('info', msg),
  warn: (msg: string) => write('warning', msg),
  error: (msg: string) => write('error', msg),
};
