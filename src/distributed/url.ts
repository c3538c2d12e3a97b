// Queue URLs: redis://[[user]:password@]HOST[:PORT][/DB] (rediss:// for TLS), or
// redis+unix:///path/to/socket[?db=N] for a local socket. Passwords never leave this module in a
// printable form: `display` and `redact` are what logs and reports see.
import { TinypruneError } from '../graph/types.js';

export interface QueueConnection {
  host?: string;
  port?: number;
  path?: string;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
}

export interface ParsedQueueUrl {
  connection: QueueConnection;
  /** The URL with any password replaced by ***, for logs. */
  display: string;
}

export function parseQueueUrl(url: string, option = '--queue'): ParsedQueueUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TinypruneError(
      `${option}: expected redis://[:password@]HOST:PORT[/DB], rediss://… or redis+unix:///SOCKET, found "${redact(url)}"`,
    );
  }
  const connection: QueueConnection = {};
  if (u.username) connection.username = decodeURIComponent(u.username);
  if (u.password) connection.password = decodeURIComponent(u.password);
  const display = redact(url);
  if (u.protocol === 'redis+unix:') {
    if (!u.pathname) throw new TinypruneError(`${option}: ${display} names no socket path`);
    connection.path = decodeURIComponent(u.pathname);
    const db = u.searchParams.get('db');
    if (db !== null) connection.db = dbNumber(db, option, display);
    return { connection, display };
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new TinypruneError(
      `${option}: expected a redis://, rediss:// or redis+unix:// URL, found ${display}`,
    );
  if (!u.hostname) throw new TinypruneError(`${option}: ${display} names no host`);
  connection.host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  connection.port = u.port ? Number(u.port) : 6379;
  const path = u.pathname.replace(/^\//, '');
  if (path) connection.db = dbNumber(path, option, display);
  if (u.protocol === 'rediss:') connection.tls = {};
  return { connection, display };
}

function dbNumber(s: string, option: string, display: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 1_000_000)
    throw new TinypruneError(
      `${option}: the database in ${display} must be a number such as /0, found "${s}"`,
    );
  return n;
}

/** Replaces the password of every redis URL in `text` by ***. */
export function redact(text: string): string {
  return text.replace(/(rediss?(?:\+unix)?:\/\/[^:@/\s]*:)[^@\s]*@/g, '$1***@');
}
