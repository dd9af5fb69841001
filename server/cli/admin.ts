import { ConnectionError, UsageError } from './errors.js'

/** The admin API's answer, or a ConnectionError with the server's message. */
export async function adminRequest<T>(base: string, token: string | undefined, method: string, path: string, body?: unknown): Promise<T> {
  if (!token) throw new UsageError('no token: pass --token or set AFTERMATH_TOKEN (an admin token)')
  let res: Response
  try {
    res = await fetch(new URL(`/api/v1${path}`, base), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    })
  } catch (err) {
    throw new ConnectionError(`cannot reach ${base}: ${(err as Error).message}`)
  }
  const text = await res.text()
  if (!res.ok) {
    let message = res.statusText
    try {
      message = JSON.parse(text).error.message
    } catch {
      // not our error shape
    }
    throw new ConnectionError(`${method} ${path}: ${res.status} ${message}`)
  }
  return (text ? JSON.parse(text) : {}) as T
}
