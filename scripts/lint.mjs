// Architecture lint: rules a formatter cannot check.
// - packages/core/src stays runtime-neutral: no `node:` imports and no Node-only drivers.
// - dependencies point one way: core imports no adapter; an adapter never imports the other.
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"

const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : path.endsWith(".ts") ? [path] : []
  })

const importsOf = (file) =>
  [...readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1])

const rules = [
  {
    dir: "packages/core/src",
    forbid: (spec) =>
      spec.startsWith("node:") ||
      ["fs", "path", "crypto", "http", "net", "os"].includes(spec) ||
      spec.startsWith("@effect/platform-node") ||
      spec.startsWith("@effect/sql-pg") ||
      spec.startsWith("@effect/sql-sqlite") ||
      spec.startsWith("@convo/adapter-") ||
      spec.startsWith("@convo/testing"),
    why: "core must stay runtime-neutral and import no adapter"
  },
  {
    dir: "packages/adapter-ws/src",
    forbid: (s) => s.startsWith("@convo/adapter-http"),
    why: "adapters never import each other"
  },
  {
    dir: "packages/adapter-http/src",
    forbid: (s) => s.startsWith("@convo/adapter-ws"),
    why: "adapters never import each other"
  }
]

let failures = 0
for (const rule of rules) {
  for (const file of walk(rule.dir)) {
    for (const spec of importsOf(file)) {
      if (rule.forbid(spec)) {
        console.error(`${file}: imports "${spec}" (${rule.why})`)
        failures++
      }
    }
  }
}
if (failures > 0) process.exit(1)
console.log("lint: architecture rules hold")
