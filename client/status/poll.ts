/**
 * Runs a task now and again after the delay it returns (null stops), never two at once and
 * not while the page is hidden: when it is shown again, the task runs as soon as it is due
 * (at once if it fell due meanwhile, never before a wait the server asked for).
 */
export class Poller {
  private timer: ReturnType<typeof setTimeout> | undefined
  private running = false
  private stopped = false
  /** When the next run is due (ms since the epoch). */
  private dueAt = 0

  constructor(private readonly task: () => Promise<number | null>) {
    document.addEventListener('visibilitychange', this.onVisibility)
  }

  start() {
    void this.run()
  }

  stop() {
    this.stopped = true
    clearTimeout(this.timer)
    document.removeEventListener('visibilitychange', this.onVisibility)
  }

  private readonly onVisibility = () => {
    clearTimeout(this.timer)
    this.timer = undefined
    if (document.hidden || this.stopped || this.running) return
    this.schedule(Math.max(0, this.dueAt - Date.now()))
  }

  private schedule(ms: number) {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.run(), ms)
  }

  private async run() {
    this.timer = undefined
    if (this.stopped || this.running || document.hidden) return
    this.running = true
    let next: number | null = null
    try {
      next = await this.task()
    } finally {
      this.running = false
    }
    if (next === null) {
      this.stop()
      return
    }
    this.dueAt = Date.now() + next
    if (!document.hidden && !this.stopped) this.schedule(next)
  }
}
