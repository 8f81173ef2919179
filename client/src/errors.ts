import type { components } from './openapi.js';
import { CLIENT_ERROR, type ErrorCode, type ProblemCode } from './protocol.js';

// The server's codes as the OpenAPI document lists them (`Problem.code`) are the protocol module's, both ways.
type DocumentedCode = components['schemas']['Problem']['code'];
const sameCodes: [DocumentedCode, ProblemCode] extends [ProblemCode, DocumentedCode] ? true : never = true;
void sameCodes;

/** An RFC 9457 problem document as the server sends it, or as the client makes one for a failure of its own. */
export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail: string;
  code: ErrorCode;
  [extension: string]: unknown;
}

/**
 * Every failure of the client. `status` 0 with `code: "network_error"` when no
 * answer came (connection refused or cut, DNS, CORS); otherwise the server's
 * status and problem code.
 */
export class SessionSyncError extends Error {
  override readonly name = 'SessionSyncError';
  readonly status: number;
  /** The server's problem code, or the client's own (`network_error`, `http_<status>`, ...: see `CLIENT_ERROR`). */
  readonly code: ErrorCode;
  readonly detail: string;
  readonly problem: Problem;

  constructor(problem: Problem, options?: { cause?: unknown }) {
    super(`${problem.status ? `${problem.status} ` : ''}${problem.code}: ${problem.detail}`, options);
    this.status = problem.status;
    this.code = problem.code;
    this.detail = problem.detail;
    this.problem = problem;
  }

  static network(cause: unknown): SessionSyncError {
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new SessionSyncError({ status: 0, code: CLIENT_ERROR.networkError, title: 'Network error', detail }, { cause });
  }

  /** The answer of a failed request as an error (a problem document, or whatever the body was). */
  static async fromResponse(response: Response): Promise<SessionSyncError> {
    const text = await response.text().catch(() => '');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON (a proxy's page, a body cut short): the text itself is the detail below.
    }
    if (isProblem(body)) return new SessionSyncError({ ...body, status: response.status });
    return new SessionSyncError({
      status: response.status,
      code: `http_${response.status}`,
      title: response.statusText,
      detail: text.slice(0, 500) || response.statusText || `HTTP ${response.status}`,
    });
  }
}

function isProblem(value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && typeof (value as Problem).code === 'string';
}

/** True for failures worth another attempt: no answer at all, or a gateway or availability problem. */
export function isRetryable(error: unknown): boolean {
  return error instanceof SessionSyncError && (error.status === 0 || error.status === 502 || error.status === 503 || error.status === 504);
}
