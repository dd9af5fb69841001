// The worker thread's entry: the server runs TypeScript through tsx, which a worker thread does
// not inherit, so it registers tsx and then loads the worker module.
import { register } from 'tsx/esm/api'

register()
await import(new URL('./json-worker.ts', import.meta.url).href)
