// Built by crates/tally-dashboard/build.rs (`npm run build -- --outDir …`), whose
// output is embedded into the tally binary. Hashed file names under /assets/
// make every build cache-busting; Tally serves them as immutable.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    target: "es2022",
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 300,
  },
  // The dev server (`npm run dev` is not needed to use Tally) would proxy the API.
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
});
