import type { Plugin } from 'vite';

/** Writes `.br` and `.gz` variants of the text assets in `outDir` after a build. */
export function precompress(outDir: string): Plugin;
