// Consumer test: the packages as a user gets them. Builds every package (scripts/build.mjs), packs
// each with `npm pack`, installs the tarballs into a fresh project in a temp folder outside the
// workspace with README's own `npm install` line (the registry gives the rest), and runs there:
//
//   0. npm ls       one copy each of effect, @effect/platform, @effect/sql, @langchain/core, @convo/core
//   1. core.mjs       the runtime-neutral core: codec round trip, memory store, an offline turn
//   2. store.mjs      a SQLite store: migrate, append a turn, read it back from the file
//   3. quickstart.mjs README's quick start, verbatim, as a server; client.mjs fetches the chat
//                     page and its static files, chats over the WebSocket and over HTTP, reads the
//                     history back; after the server stops, the turns are read from its SQLite file
//   4. tsc --noEmit   a typed consumer (typed/: strict, NodeNext) against the installed .d.ts
//   5. vitest         the conformance suite of the installed @convo/testing on a custom store
//   6. core.mjs again on Bun and on Deno (both installed from the npm registry), and web.mjs: the
//                     HTTP adapter's router as a web Request → Response handler on Bun.serve and
//                     on Deno.serve
//
// Everything runs with plain `node` (no tsx, no loader). Exit code 1 on the first failure.
//
// better-sqlite3's native binding takes minutes to compile here (no prebuilt binary is reachable):
// when the workspace holds a binding built for the same better-sqlite3 version (and this Node),
// it is copied into the fresh project instead, as a compile cache; `--compile-sqlite` compiles it.
//
// Usage: node scripts/consumer-test.mjs [--no-build] [--no-runtimes] [--compile-sqlite] [--keep]
//   --no-build        pack the dist/ already built
//   --no-runtimes     skip step 6
//   --compile-sqlite  compile better-sqlite3 in the fresh project (no copy from the workspace)
//   --keep            keep the temp folder (its path is printed)
import { execFileSync, spawn } from "node:child_process"
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const root = new URL("..", import.meta.url).pathname
const args = new Set(process.argv.slice(2))
const started = Date.now()
const packages = ["core", "adapter-ws", "adapter-http", "postgres", "testing"]
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`
const step = (message) => console.log(`consumer: ${message} (${elapsed()})`)

// better-sqlite3 has no reachable prebuilt binary here: it compiles against the system's Node headers
const env = { ...process.env }
if (env.npm_config_nodedir === undefined && existsSync("/usr/include/node/node.h")) env.npm_config_nodedir = "/usr"
delete env.NODE_OPTIONS

const run = (command, commandArgs, options = {}) =>
  execFileSync(command, commandArgs, { stdio: "inherit", env, ...options })
const npm = (commandArgs, options) => run("npm", commandArgs, options)

/** The code block that follows `<!-- consumer-test: name -->` in README.md. */
const readmeBlock = (name) => {
  const readme = readFileSync(join(root, "README.md"), "utf8")
  const found = new RegExp(
    `<!-- consumer-test: ${name.replace(".", "\\.")} -->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\``
  ).exec(readme)
  if (found === null) throw new Error(`README.md has no block after <!-- consumer-test: ${name} -->`)
  return found[1]
}

const work = mkdtempSync(join(tmpdir(), "convo-consumer-"))
const cleanup = () =>
  args.has("--keep") ? console.log(`consumer: kept ${work}`) : rmSync(work, { recursive: true, force: true })
let server = null
process.on("exit", () => server?.kill("SIGKILL"))

try {
  if (!args.has("--no-build")) run(process.execPath, [join(root, "scripts/build.mjs")])

  // pack: the tarballs hold dist/, package.json and nothing else from the sources
  const tarballs = join(work, "tarballs")
  mkdirSync(tarballs)
  const packed = JSON.parse(
    execFileSync(
      "npm",
      ["pack", "--json", "--pack-destination", tarballs, ...packages.flatMap((p) => ["-w", `packages/${p}`])],
      {
        cwd: root,
        env,
        encoding: "utf8"
      }
    )
  )
  const tarballOf = {}
  for (const pack of packed) {
    tarballOf[pack.name] = join(tarballs, pack.filename)
    const files = pack.files.map((file) => file.path)
    const stray = files.filter((file) => !file.startsWith("dist/") && file !== "package.json")
    if (stray.length > 0) throw new Error(`${pack.name}: the tarball holds more than dist/: ${stray.join(", ")}`)
    for (const needed of ["dist/index.js", "dist/index.d.ts", "dist/index.js.map"])
      if (!files.includes(needed)) throw new Error(`${pack.name}: the tarball lacks ${needed}`)
    console.log(`consumer: ${pack.filename}: ${files.length} files, ${(pack.size / 1024).toFixed(0)} KiB`)
  }
  const httpFiles = packed.find((pack) => pack.name === "@convo/adapter-http").files.map((file) => file.path)
  for (const asset of ["dist/static/chat.js", "dist/static/chat.css"])
    if (!httpFiles.includes(asset)) throw new Error(`@convo/adapter-http: the tarball lacks ${asset}`)
  step("packed 5 tarballs")

  // a fresh project, installed with README's install line (tarballs in place of the registry's @convo/*)
  const app = join(work, "app")
  mkdirSync(app)
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify(
      {
        name: "convo-consumer",
        private: true,
        type: "module",
        // as the workspace: npm 11 runs only the install scripts it is told to
        allowScripts: { "better-sqlite3": true, esbuild: true, "msgpackr-extract": true, "@parcel/watcher": false }
      },
      null,
      2
    )
  )
  const install = readmeBlock("install")
    .split("\n")
    .find((line) => line.startsWith("npm install "))
  if (install === undefined) throw new Error("README's install block has no `npm install` line")
  const readmePackages = install
    .replace(/#.*$/, "")
    .trim()
    .split(/\s+/)
    .slice(2)
    .map((spec) => tarballOf[spec] ?? spec)
  // the test's own tools: the typed consumer (tsc), the conformance run (vitest), a WebSocket client,
  // and the PostgreSQL driver the typed consumer's import of @convo/postgres needs for its types
  const tools = [
    "typescript@~7.0.2",
    "@types/node@^20.19.0",
    "vitest@~3.2.7",
    "@effect/vitest@~0.30.0",
    "ws@^8.23.0",
    "@effect/sql-pg@~0.53.0",
    tarballOf["@convo/postgres"],
    tarballOf["@convo/testing"]
  ]
  npm(["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", ...readmePackages, ...tools], {
    cwd: app
  })
  const binding = "node_modules/better-sqlite3/build/Release/better_sqlite3.node"
  const versionIn = (dir) =>
    JSON.parse(readFileSync(join(dir, "node_modules/better-sqlite3/package.json"), "utf8")).version
  if (!args.has("--compile-sqlite") && existsSync(join(root, binding)) && versionIn(root) === versionIn(app)) {
    mkdirSync(join(app, binding, ".."), { recursive: true })
    copyFileSync(join(root, binding), join(app, binding))
    console.log(`consumer: better-sqlite3 ${versionIn(app)}: binding copied from the workspace's build`)
  } else npm(["rebuild", "better-sqlite3"], { cwd: app })
  step(`installed: ${install}`)

  // one copy of what the app and convo share (they are peers): two would split tags, classes and schemas
  for (const shared of ["effect", "@effect/platform", "@effect/sql", "@langchain/core", "@convo/core"]) {
    const copies = new Set(
      execFileSync("npm", ["ls", shared, "--all", "--parseable"], { cwd: app, env, encoding: "utf8" })
        .split("\n")
        .filter((line) => line.trim().length > 0)
    )
    if (copies.size !== 1) throw new Error(`${copies.size} copies of ${shared}: ${[...copies].join(", ")}`)
  }
  step("one copy each of effect, @effect/platform, @effect/sql, @langchain/core and @convo/core")

  for (const file of ["core.mjs", "store.mjs", "client.mjs", "web.mjs", "typed"])
    cpSync(join(root, "test/consumer", file), join(app, file), { recursive: true })
  writeFileSync(join(app, "quickstart.mjs"), readmeBlock("quickstart.mjs") + "\n")

  run(process.execPath, ["core.mjs"], { cwd: app })
  run(process.execPath, ["store.mjs", "store.sqlite"], { cwd: app })
  step("core.mjs and store.mjs passed on Node")

  // README's quick start as a server on a free port; the client drives it from outside
  server = spawn(process.execPath, ["quickstart.mjs"], { cwd: app, env: { ...env, PORT: "0" }, stdio: "pipe" })
  let output = ""
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the quick start did not start:\n${output}`)), 30_000)
    const onData = (chunk) => {
      output += chunk
      const listening = /Listening on (http:\/\/[\w.:[\]]+)/.exec(output)
      if (listening !== null) (clearTimeout(timer), resolve(listening[1]))
    }
    server.stdout.on("data", onData)
    server.stderr.on("data", onData)
    server.on("exit", (code) => reject(new Error(`the quick start exited (${code}):\n${output}`)))
  })
  run(process.execPath, ["client.mjs", base], { cwd: app })
  const exited = new Promise((resolve) => server.once("exit", resolve))
  server.kill("SIGTERM")
  await exited
  server = null
  // the history is on disk: a new process reads both turns from the quick start's SQLite file
  const stored = execFileSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import { ConversationStore, MessageCodec, SqlConversationStore } from "@convo/core"
       import { SqliteClient } from "@effect/sql-sqlite-node"
       import { Effect, Layer } from "effect"
       const store = SqlConversationStore.layer().pipe(Layer.provide([MessageCodec.layer, SqliteClient.layer({ filename: "chat.sqlite" })]))
       const page = await Effect.runPromise(Effect.flatMap(ConversationStore.ConversationStore, (s) => s.history(1)).pipe(Effect.provide(store)))
       console.log(JSON.stringify(page.entries.map((e) => e._tag === "Decoded" ? e.value.content : e.raw)))`
    ],
    { cwd: app, env, encoding: "utf8" }
  )
  const texts = JSON.parse(stored)
  if (texts.length !== 4 || texts[0] !== "hello over ws" || texts[2] !== "hello over http")
    throw new Error(`chat.sqlite does not hold the two turns: ${stored}`)
  step("README's quick start served the page, a WebSocket turn and an HTTP turn; chat.sqlite holds both")

  run(join(app, "node_modules/.bin/tsc"), ["-p", "typed/tsconfig.json"], { cwd: app })
  run(join(app, "node_modules/.bin/tsc"), ["-p", "typed/tsconfig.test.json"], { cwd: app })
  step("the typed consumer type-checks against the installed .d.ts")
  run(join(app, "node_modules/.bin/vitest"), ["run", "--dir", "typed"], { cwd: app, env: { ...env, CI: "" } })
  step("the custom store passes the installed conformance suite")

  if (!args.has("--no-runtimes")) {
    // Bun and Deno from the npm registry (their packages ship the binaries), outside the project
    const runtimes = join(work, "runtimes")
    mkdirSync(runtimes)
    writeFileSync(join(runtimes, "package.json"), JSON.stringify({ private: true }))
    npm(["install", "--no-audit", "--no-fund", "--prefer-offline", "bun@^1.4.0", "deno@^2.9.0"], { cwd: runtimes })
    const bin = (name) => join(runtimes, "node_modules/.bin", name)
    run(bin("bun"), ["--version"], { cwd: app })
    run(bin("bun"), ["core.mjs"], { cwd: app })
    run(bin("deno"), ["--version"], { cwd: app })
    run(bin("deno"), ["run", "--allow-read", "--allow-env", "core.mjs"], { cwd: app })
    run(bin("bun"), ["web.mjs"], { cwd: app })
    run(bin("deno"), ["run", "--allow-read", "--allow-env", "--allow-net", "web.mjs"], { cwd: app })
    step("core.mjs and web.mjs passed on Bun and on Deno")
  }
  console.log(`consumer: all checks passed (${elapsed()})`)
  cleanup()
} catch (error) {
  console.error(`consumer: FAILED: ${error instanceof Error ? error.message : String(error)}`)
  console.error(`consumer: the project is kept at ${work}`)
  process.exitCode = 1
}
