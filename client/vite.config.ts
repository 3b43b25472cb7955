import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/** The web player: `npm run build:client` writes dist/client, which the server serves at `/`. */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  build: {
    outDir: '../dist/client',
    emptyOutDir: true,
    sourcemap: true,
  },
  server: {
    host: '127.0.0.1',
    // `vite --config client/vite.config.ts` during development: MQTT goes to a running server.
    proxy: { '/mqtt': { target: 'ws://127.0.0.1:8080', ws: true } },
  },
  preview: { host: '127.0.0.1' },
});
