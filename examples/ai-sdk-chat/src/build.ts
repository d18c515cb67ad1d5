/**
 * Builds the page into static files: `dist/app.js` (the React client, bundled and minified by
 * esbuild) and `dist/index.html`. The server serves them; `npm run build` runs this.
 */
import * as esbuild from "esbuild"
import { copyFileSync, mkdirSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** Where the built files go. */
export const distDir = fileURLToPath(new URL("../dist/", import.meta.url))

/** Builds the page; gives the output directory. */
export const build = async (): Promise<string> => {
  mkdirSync(distDir, { recursive: true })
  await esbuild.build({
    entryPoints: [fileURLToPath(new URL("./client/main.ts", import.meta.url))],
    outfile: `${distDir}app.js`,
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2022",
    platform: "browser",
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "warning"
  })
  copyFileSync(fileURLToPath(new URL("./client/index.html", import.meta.url)), `${distDir}index.html`)
  return distDir
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await build()
  console.log(`built ${distDir}`)
}
