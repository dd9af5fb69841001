import net from 'node:net'

/**
 * A minimal keep-alive HTTP/1.1 client for load generators: one socket, one request at a time,
 * requests written as prepared bytes and responses read with just enough parsing (status line,
 * Content-Length or chunked). Node's http client costs ~85 µs of CPU per small request, which on
 * a 2-core machine takes a third of a core away from the server under test; this costs a
 * fraction of that (wrk's approach).
 */
export class RawConnection {
  private socket: net.Socket
  private buf: Buffer = Buffer.alloc(0)
  private pending: { resolve(r: { status: number; body: Buffer }): void; reject(err: Error): void } | null = null

  private constructor(socket: net.Socket) {
    this.socket = socket
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
      this.tryParse()
    })
    const fail = (err: Error) => {
      const p = this.pending
      this.pending = null
      p?.reject(err)
    }
    socket.on('error', fail)
    socket.on('close', () => fail(new Error('connection closed')))
  }

  static connect(url: URL): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: url.hostname, port: Number(url.port) }, () => resolve(new RawConnection(socket)))
      socket.once('error', reject)
    })
  }

  /** Send one whole request (head and body bytes) and resolve with the response. */
  request(bytes: Buffer): Promise<{ status: number; body: Buffer }> {
    if (this.pending) throw new Error('one request at a time')
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject }
      this.socket.write(bytes)
    })
  }

  close(): void {
    this.socket.destroy()
  }

  private tryParse() {
    const headEnd = this.buf.indexOf('\r\n\r\n')
    if (headEnd < 0 || !this.pending) return
    const head = this.buf.toString('latin1', 0, headEnd)
    const status = Number(head.slice(9, 12))
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)
    let body: Buffer
    let end: number
    if (length) {
      end = headEnd + 4 + Number(length[1])
      if (this.buf.length < end) return
      body = this.buf.subarray(headEnd + 4, end)
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      // Chunked: complete once the terminating zero-length chunk has arrived.
      const parts: Buffer[] = []
      let at = headEnd + 4
      for (;;) {
        const lineEnd = this.buf.indexOf('\r\n', at)
        if (lineEnd < 0) return
        const size = Number.parseInt(this.buf.toString('latin1', at, lineEnd), 16)
        if (this.buf.length < lineEnd + 2 + size + 2) return
        if (size === 0) {
          end = lineEnd + 4
          break
        }
        parts.push(this.buf.subarray(lineEnd + 2, lineEnd + 2 + size))
        at = lineEnd + 2 + size + 2
      }
      body = Buffer.concat(parts)
    } else {
      body = Buffer.alloc(0)
      end = headEnd + 4
    }
    this.buf = this.buf.subarray(end)
    const p = this.pending
    this.pending = null
    p.resolve({ status, body })
  }
}

/** The bytes of a POST with a JSON-ish body. */
export function postBytes(url: URL, token: string, contentType: string, body: Buffer): Buffer {
  const head =
    `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: ${contentType}\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n`
  return Buffer.concat([Buffer.from(head, 'latin1'), body])
}
