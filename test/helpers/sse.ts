/**
 * The `update` frames of a live stream (GET …/stream, Server-Sent Events), one at a time:
 * `next()` resolves with the data of the next frame as JSON.
 */
export function updateFrames<T = { affected: number }>(res: Response): { next(): Promise<T> } {
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let buf = ''
  return {
    async next() {
      for (;;) {
        const frame = /event: update\nid: \d+\ndata: (.*)\n\n/.exec(buf)
        if (frame) {
          buf = buf.slice(frame.index + frame[0].length)
          return JSON.parse(frame[1]!) as T
        }
        const { value, done } = await reader.read()
        if (done) throw new Error('stream ended')
        buf += decoder.decode(value)
      }
    },
  }
}
