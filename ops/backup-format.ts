/**
 * The qbsync backup file: one gzip stream holding an 8-byte magic ("QBSYNCB1") and then frames
 * `[type: 1 byte][length: uint32 big-endian][payload]`:
 *
 *   H  header (JSON): format version, qbsync version, server version, migrations applied, pg-boss schema
 *      version, and every table with its columns, in load order
 *   T  table start (JSON): {schema, name, columns}
 *   D  table data: COPY text format, as PostgreSQL wrote it (any number of frames, each at most 1 MiB)
 *   E  table end (JSON): {rows, bytes, sha256} of that table's data
 *   S  sequences (JSON): [{schema, name, last_value, is_called}]
 *   Z  trailer (JSON): per-table rows/bytes/sha256 again and the finish time; a file without it is truncated
 *
 * Written and read as streams: memory stays bounded by one frame whatever the database size.
 */
import crypto from 'node:crypto';

export const MAGIC = Buffer.from('QBSYNCB1', 'ascii');
export const FORMAT_VERSION = 1;
export const MAX_FRAME = 1 << 20;

export type FrameType = 'H' | 'T' | 'D' | 'E' | 'S' | 'Z';

export interface TableInfo {
  schema: string;
  name: string;
  columns: string[];
  /** 'r' ordinary, 'p' partitioned (dumped through its parent). */
  kind: 'r' | 'p';
}

export interface BackupHeader {
  format: 'qbsync-backup';
  format_version: number;
  qbsync_version: string;
  created_at: string;
  server_version: string;
  database: string;
  migrations: string[];
  pgboss_schema_version: number | null;
  tables: TableInfo[];
}

export interface TableSummary {
  schema: string;
  name: string;
  rows: number;
  bytes: number;
  sha256: string;
}

export interface SequenceValue {
  schema: string;
  name: string;
  last_value: string;
  is_called: boolean;
}

export interface BackupTrailer {
  tables: TableSummary[];
  finished_at: string;
  duration_ms: number;
}

export function frame(type: FrameType, payload: Buffer | string | object): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8');
  const head = Buffer.alloc(5);
  head.write(type, 0, 'ascii');
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Counts rows of COPY text data (every row ends with a newline; newlines inside values are escaped) and hashes it. */
export class TableDigest {
  rows = 0;
  bytes = 0;
  private readonly hash = crypto.createHash('sha256');

  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    let i = -1;
    while ((i = chunk.indexOf(10, i + 1)) !== -1) this.rows++;
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export class BackupFormatError extends Error {}

/** Reads frames from an async stream of buffers (the gunzipped file). */
export class FrameReader {
  private readonly it: AsyncIterator<Buffer>;
  private chunks: Buffer[] = [];
  private length = 0;
  private ended = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.length < n && !this.ended) {
      const { value, done } = await this.it.next();
      if (done) {
        this.ended = true;
        break;
      }
      const b = Buffer.isBuffer(value) ? value : Buffer.from(value as Uint8Array);
      this.chunks.push(b);
      this.length += b.length;
    }
    return this.length >= n;
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.length);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  async readMagic(): Promise<void> {
    if (!(await this.fill(MAGIC.length)) || !this.take(MAGIC.length).equals(MAGIC)) {
      throw new BackupFormatError('not a qbsync backup file (bad magic)');
    }
  }

  /** The next frame, or null at the end of the file. */
  async next(): Promise<{ type: FrameType; payload: Buffer } | null> {
    if (!(await this.fill(5))) {
      if (this.length === 0) return null;
      throw new BackupFormatError('backup file is truncated (partial frame header)');
    }
    const head = this.take(5);
    const type = head.toString('ascii', 0, 1) as FrameType;
    const len = head.readUInt32BE(1);
    if (!'HTDESZ'.includes(type)) throw new BackupFormatError(`backup file is corrupt (unknown frame type ${JSON.stringify(type)})`);
    if (len > MAX_FRAME * 4) throw new BackupFormatError('backup file is corrupt (frame too large)');
    if (!(await this.fill(len))) throw new BackupFormatError('backup file is truncated (partial frame)');
    // Copy out so the payload does not pin the larger buffer it was cut from.
    return { type, payload: Buffer.from(this.take(len)) };
  }

  async expect<T>(type: FrameType): Promise<T> {
    const f = await this.next();
    if (!f) throw new BackupFormatError(`backup file is truncated (expected a ${type} frame)`);
    if (f.type !== type) throw new BackupFormatError(`backup file is corrupt (expected a ${type} frame, got ${f.type})`);
    return JSON.parse(f.payload.toString('utf8')) as T;
  }
}
