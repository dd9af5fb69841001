/** Exit codes of the CLI: 0 everything accepted, 1 some events rejected, 2 usage or connection failure. */
export const EXIT_OK = 0
export const EXIT_REJECTED = 1
export const EXIT_FAILURE = 2

/** Bad command line (exit 2). */
export class UsageError extends Error {}

/** The server could not be reached or refused the request as a whole (exit 2). */
export class ConnectionError extends Error {}
