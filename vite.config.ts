import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const page = (name: string) => fileURLToPath(new URL(`./client/${name}`, import.meta.url))

// The dashboard and the customer status page are built into dist/client and served by the
// Express server. The status page is an entry of its own: it loads none of the dashboard.
export default defineConfig({
  root: 'client',
  build: {
    outDir: '../dist/client',
    emptyOutDir: true,
    // No source maps: the server would hand them to anyone (they are not needed to run the dashboard).
    sourcemap: false,
    rolldownOptions: { input: { index: page('index.html'), status: page('status.html') } },
  },
  server: { proxy: { '/api': 'http://127.0.0.1:3000', '/healthz': 'http://127.0.0.1:3000' } },
})
