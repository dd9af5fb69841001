/**
 * The real server with the events insert replaced by a no-op at the storage boundary: measures
 * the HTTP + parse + validate + serialize + group-commit path alone (the ceiling the engine's
 * insert cost then divides). Used by `bench/ingest-load.ts --null-store`; never for real data.
 */
import { boot } from '../server/boot.js'
import { loadConfig } from '../server/config.js'

const running = await boot(loadConfig(), {
  wrapStore: (store) => ({
    ...store,
    async insert(table, body, format) {
      if (!table.endsWith('.events')) await store.insert(table, body, format)
    },
  }),
})
console.log(`aftermath listening on ${running.url}`)
process.on('SIGTERM', () => void running.close().then(() => process.exit(0)))
