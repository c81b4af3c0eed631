// Builds the console into the directory kmsd serves at /console/ (scripts/build-console sets
// --outDir). No inline script or style, so the server's Content-Security-Policy can forbid them.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/console/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2022",
    chunkSizeWarningLimit: 300,
  },
});
