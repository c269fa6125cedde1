// Builds the web UI into dist/, which the `query-ui` crate embeds into the `lookout` binary.
//
// JSX is compiled for Preact by Vite's own transform (automatic runtime, importSource
// "preact") instead of @preact/preset-vite, which pulls in Babel and lags Vite's majors.
//
// `npm run dev` serves the UI with hot reload and proxies the APIs to a running aggregator:
// LOOKOUT_URL=http://127.0.0.1:9400 (the default) or wherever `lookout serve` listens.
import { defineConfig, loadEnv } from 'vite';
import { precompress } from './precompress.mjs';

export default defineConfig(({ mode }) => {
  const target = loadEnv(mode, '.', 'LOOKOUT_').LOOKOUT_URL || 'http://127.0.0.1:9400';
  return {
    plugins: [precompress('dist')],
    oxc: {
      jsx: { runtime: 'automatic', importSource: 'preact' },
    },
    build: {
      outDir: 'dist',
      emptyOutDir: true,
      target: 'es2020',
      // The bundle is embedded in the binary; keep it small and free of source maps.
      sourcemap: false,
      assetsInlineLimit: 0,
    },
    server: {
      proxy: {
        '/api': target,
        '/health': target,
      },
    },
  };
});
