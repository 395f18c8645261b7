import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/**
 * The console is served by the server at /console (server/src/http/console.ts serves
 * dist/ with an SPA fallback). `npm run dev` serves it from Vite and sends the API calls
 * to a server on TOLLGATE_URL (default http://127.0.0.1:8787).
 */
const target = process.env.TOLLGATE_URL ?? 'http://127.0.0.1:8787';

export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1200 },
  server: { proxy: { '/v1': target } },
});
