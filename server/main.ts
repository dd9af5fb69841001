import { boot } from './boot.js'
import { ConfigError, loadConfig } from './config.js'
import { loadDemo } from './demo.js'
import { StorageUnavailableError } from './errors.js'

async function main() {
  // Everything the server writes (engine data, spool, token) is readable by its user only.
  process.umask(0o077)
  const config = loadConfig()
  const running = await boot(config, { clientDir: 'dist/client' })
  console.log(`aftermath listening on ${running.url}`)
  if (running.tokenCreated) {
    console.log(`no AFTERMATH_TOKENS set: generated an admin token (kept in ${config.dataDir}/admin-token; printed this once)`)
    console.log(`open the dashboard: ${running.url}/#token=${running.generatedToken}`)
  } else if (running.generatedToken) {
    console.log(`admin token in ${config.dataDir}/admin-token; print the login link with: npm run cli -- login-link`)
  }
  if (config.demo) void loadDemo(config, running).catch((err) => console.error(`demo incident not loaded: ${err.message}`))

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    console.log(`${signal}: draining and closing`)
    await running.close()
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
}

main().catch((err) => {
  if (err instanceof ConfigError || err instanceof StorageUnavailableError) console.error(`aftermath: ${err.message}`)
  else console.error(err)
  process.exit(1)
})
