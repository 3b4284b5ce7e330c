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
    },
  },
  build: {
    // The first screen's size is watched (npm run size); a warning past it is noise.
    chunkSizeWarningLimit: 600,
  },
  test: {
    include: ['src/**/*.test.{ts,tsx}'],
    environment: 'node',
  },
});
