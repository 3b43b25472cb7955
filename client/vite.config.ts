import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/**
 * `npm run build:client` builds both parts into dist/client, which the server serves at `/`:
 * the web page (index.html and assets/) and, on its own, the embeddable
 * `<mqttcast-player>` as one self-contained ES module, `player.js` (no chunks,
 * so another origin needs CORS on that one file only).
 */
export default defineConfig({
  root: here('.'),
  base: './',
  build: {
    outDir: '../dist/client',
    emptyOutDir: true,
    sourcemap: true,
  },
  builder: {},
  environments: {
    client: {},
    player: {
      consumer: 'client',
      build: {
        outDir: '../dist/client',
        emptyOutDir: false,
        sourcemap: true,
        // Library mode keeps whitespace in ES output (for other bundlers); this file is served as it is.
        rolldownOptions: { output: { minify: true } },
        lib: { entry: here('./player-entry.ts'), formats: ['es'], fileName: () => 'player.js' },
      },
    },
  },
  server: {
    host: '127.0.0.1',
    // `vite --config client/vite.config.ts` during development: MQTT goes to a running server.
    proxy: { '/mqtt': { target: 'ws://127.0.0.1:8080', ws: true } },
  },
  preview: { host: '127.0.0.1' },
});
