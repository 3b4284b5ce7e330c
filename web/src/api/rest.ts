// The REST client: Discord v10 requests with a bearer token, Discord's error shape,
// rate limits, and CloudCord's read-your-writes positions.
//
// Every accepted write answers with `X-CloudCord-Position: <aggregate>:<id>:<seq>`;
// the client keeps the newest position per aggregate and sends them back on reads,
// so a read always reflects the writes this client made (the server waits, bounded).

/** Discord's error body: `{code, message, errors?}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    /** The nested field errors of a 400 (`errors`), as sent. */
    readonly errors?: unknown,
    /** A 429's `retry_after`, in seconds. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The first field error's message (`errors.<field>._errors[0].message`), if any. */
  fieldMessage(): string | undefined {
    return firstFieldMessage(this.errors);
  }
}

/** A person-readable sentence for a failed request. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.fieldMessage() ?? error.message;
  if (error instanceof Error) return error.message;
  return 'Something went wrong.';
}

function firstFieldMessage(node: unknown): string | undefined {
  if (typeof node !== 'object' || node === null) return undefined;
  const record = node as Record<string, unknown>;
  const own = record._errors;
  if (Array.isArray(own)) {
    const first: unknown = own[0];
    if (typeof first === 'object' && first !== null && 'message' in first && typeof first.message === 'string') {
      return first.message;
    }
  }
  for (const value of Object.values(record)) {
    const found = firstFieldMessage(value);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The server's read-your-writes header. */
const POSITION_HEADER = 'X-CloudCord-Position';
/** The server accepts at most this many positions on one read. */
const MAX_POSITIONS = 32;
/** A 429 is retried this many times, each after the server's `retry_after`. */
const MAX_RATE_LIMIT_RETRIES = 3;

/** The newest write position per aggregate (`guild:1:7` → `guild:1` at 7). */
export class Positions {
  private readonly seqs = new Map<string, bigint>();

  /** Remembers a position header's value (comma-separated positions). */
  record(header: string | null): void {
    if (header === null) return;
    for (const raw of header.split(',')) {
      const text = raw.trim();
      const cut = text.lastIndexOf(':');
      const seqText = text.slice(cut + 1);
      if (cut <= 0 || !/^\d+$/.test(seqText)) continue;
      const aggregate = text.slice(0, cut);
      const seq = BigInt(seqText);
      const known = this.seqs.get(aggregate);
      // Re-inserting moves the aggregate to the end: newest writes are kept longest.
      this.seqs.delete(aggregate);
      this.seqs.set(aggregate, known !== undefined && known > seq ? known : seq);
      if (this.seqs.size > MAX_POSITIONS) {
        const oldest = this.seqs.keys().next().value;
        if (oldest !== undefined) this.seqs.delete(oldest);
      }
    }
  }

  /** The header value for a read, or `null` before any write. */
  header(): string | null {
    if (this.seqs.size === 0) return null;
    return [...this.seqs].map(([aggregate, seq]) => `${aggregate}:${seq}`).join(', ');
  }
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RestOptions {
  /** `/api/v10` on the page's origin unless told otherwise. */
  base?: string;
  /** The current token; `null` sends no Authorization. */
  token: () => string | null;
  /** Renews the token after a 401; `true` when there is a new one to retry with. */
  refresh?: () => Promise<boolean>;
  /** Told when the server refuses the token (401) and no new one helps, so the
   * session can end. */
  onUnauthorized?: () => void;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

export class RestClient {
  readonly positions = new Positions();
  private readonly base: string;
  private readonly fetcher: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: RestOptions) {
    this.base = options.base ?? '/api/v10';
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Sends a request; resolves to the JSON answer (`undefined` for 204). A
   * `FormData` body goes as `multipart/form-data` (files), anything else as JSON. */
  async request<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const headers = new Headers();
    const multipart = body instanceof FormData;
    if (body !== undefined && !multipart) headers.set('Content-Type', 'application/json');
    const positions = method === 'GET' ? this.positions.header() : null;
    if (positions !== null) headers.set(POSITION_HEADER, positions);
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = multipart ? body : JSON.stringify(body);

    let renewed = false;
    for (let attempt = 0; ; attempt++) {
      // Read per attempt: a retry after a refresh carries the new token.
      const token = this.options.token();
      if (token !== null) headers.set('Authorization', `Bearer ${token}`);
      const response = await this.fetcher(`${this.base}${path}`, init);
      if (response.ok) {
        this.positions.record(response.headers.get(POSITION_HEADER));
        if (response.status === 204) return undefined as T;
        return (await response.json()) as T;
      }
      const error = await toApiError(response);
      const wait = retryAfterMs(response, error);
      if (wait !== null && attempt < MAX_RATE_LIMIT_RETRIES) {
        await this.sleep(wait);
        continue;
      }
      if (response.status === 401) {
        // An expired access token: renew it once and try again.
        if (!renewed && this.options.refresh !== undefined) {
          renewed = true;
          // A refresh that cannot reach the provider says nothing about the session:
          // the request fails, the person stays signed in.
          const fresh = await this.options.refresh().catch(() => null);
          if (fresh === null) throw error;
          if (fresh) continue;
        }
        this.options.onUnauthorized?.();
      }
      throw error;
    }
  }
}

/** How long to wait before retrying, for a 429 or a 503 with `Retry-After`. */
function retryAfterMs(response: Response, error: ApiError): number | null {
  if (response.status !== 429 && response.status !== 503) return null;
  if (error.retryAfter !== undefined) return error.retryAfter * 1000;
  const header = Number(response.headers.get('Retry-After'));
  return Number.isFinite(header) && header > 0 ? header * 1000 : null;
}

async function toApiError(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's page, an empty body): the status says enough.
  }
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const message =
    typeof record.message === 'string' ? record.message : `${response.status}: ${response.statusText}`;
  const code = typeof record.code === 'number' ? record.code : 0;
  const retryAfter = typeof record.retry_after === 'number' ? record.retry_after : undefined;
  return new ApiError(response.status, code, message, record.errors, retryAfter);
}
