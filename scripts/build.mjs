// Build: every publishable package to ESM JavaScript + `.d.ts` + source maps in its `dist/`.
//
// Each package compiles with its `tsconfig.build.json` (the repository's strict settings, without
// the workspace's `paths` to the sources), in dependency order, so a package that imports
// `@convo/core` type-checks against core's emitted `.d.ts`, as a user's project will. Static files
// under `src/static/` (the chat page's script and stylesheet) are copied to `dist/static/`.
//
// Inside the workspace nothing needs this build: tsc, tsx and vitest resolve `@convo/*` to the
// sources (tsconfig.json `paths`, vitest.config.ts `resolve.alias`). The consumer test
// (scripts/consumer-test.mjs) packs what this writes.
//
// Usage: node scripts/build.mjs              every package
//        node scripts/build.mjs core testing  only these (in dependency order)
import { execFileSync } from "node:child_process"
import { cpSync, existsSync, rmSync } from "node:fs"
import { join } from "node:path"

const root = new URL("..", import.meta.url).pathname
// dependency order: each package after the ones it imports
const packages = ["core", "testing", "adapter-ws", "adapter-http", "postgres"]

const wanted = process.argv.slice(2)
for (const name of wanted) if (!packages.includes(name)) throw new Error(`build: no package "${name}"`)
const tsc = join(root, "node_modules/.bin/tsc")

for (const name of packages.filter((p) => wanted.length === 0 || wanted.includes(p))) {
  const dir = join(root, "packages", name)
  const started = Date.now()
  rmSync(join(dir, "dist"), { recursive: true, force: true })
  execFileSync(tsc, ["-p", join(dir, "tsconfig.build.json")], { stdio: "inherit" })
  if (existsSync(join(dir, "src/static")))
    cpSync(join(dir, "src/static"), join(dir, "dist/static"), { recursive: true })
  console.log(`build: @convo/${name} → packages/${name}/dist (${((Date.now() - started) / 1000).toFixed(1)} s)`)
}
