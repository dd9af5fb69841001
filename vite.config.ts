import { defineConfig } from 'vite'

// The dashboard is built into dist/client and served by the Express server.
export default defineConfig({
  root: 'client',
  // No source maps: the server would hand them to anyone (they are not needed to run the dashboard).
  build: { outDir: '../dist/client', emptyOutDir: true, sourcemap: false },
  server: { proxy: { '/api': 'http://127.0.0.1:3000', '/healthz': 'http://127.0.0.1:3000' } },
})
