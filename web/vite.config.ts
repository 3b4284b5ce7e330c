import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// `npm run dev` talks to a running `make up` stack (or CLOUDCORD_ORIGIN) for the API
// and the gateway, so the client keeps using same-origin URLs as in production.
const origin = process.env.CLOUDCORD_ORIGIN ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': origin,
      '/gateway': { target: origin, ws: true },
      '/cdn': origin,
    },
  },
  build: {
    // The first screen's size is watched (npm run size); a warning past it is noise.
    chunkSizeWarningLimit: 600,
    rolldownOptions: {
      // The service worker is built beside the page, at the root (its scope is the
      // directory it is served from) and under a fixed name: browsers look for
      // updates of a worker at the URL it was registered with.
      input: { index: 'index.html', sw: 'src/push/sw.ts' },
      output: {
        entryFileNames: (chunk) => (chunk.name === 'sw' ? 'sw.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
  test: {
    include: ['src/**/*.test.{ts,tsx}'],
    environment: 'node',
  },
});
