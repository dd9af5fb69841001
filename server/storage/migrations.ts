// The migrations live in ./migrations/ (index.ts: migrate; one file per range of versions); this
// path stays for the modules that import it.
export { MIGRATIONS, migrate, type Migration } from './migrations/index.js'
