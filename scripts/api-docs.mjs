// API reference: docs/reference/api/<package>.md generated from the JSDoc of every public module
// (packages/*/src/*.ts, not index.ts, not src/internal/**), plus docs/reference/api/README.md.
//
// Usage: node scripts/api-docs.mjs           write the reference
//        node scripts/api-docs.mjs --check   exit 1 when the committed reference is stale
//        node scripts/api-docs.mjs --verbose also list the exports whose JSDoc has no description
// Exports without a JSDoc block are listed under "undocumented" and reported as warnings.
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"

const root = new URL("..", import.meta.url).pathname
const outDir = join(root, "docs/reference/api")
const packages = ["core", "adapter-ws", "adapter-http", "postgres", "testing"]
const check = process.argv.includes("--check")
const warnings = []
const bare = [] // exports whose JSDoc has tags but no description: listed with --verbose

/** The text of a `/** ... *\/` comment, without the stars. */
const commentText = (raw) =>
  raw
    .replace(/^\/\*\*/, "")
    .replace(/\*\/$/, "")
    .split("\n")
    .map((line) => line.replace(/^\s*\* ?/, "").trimEnd())
    .join("\n")
    .trim()

/** Splits a comment into its description and its tags (only tags at a line start, outside code fences). */
const parseDoc = (raw) => {
  const doc = { description: [], since: undefined, category: undefined, examples: [] }
  let current = doc.description
  let fenced = false
  for (const line of commentText(raw).split("\n")) {
    const tag = fenced ? null : /^@(since|category|example|deprecated|see)\b\s*(.*)$/.exec(line)
    if (line.trimStart().startsWith("```")) fenced = !fenced
    if (tag === null) current.push(line)
    else if (tag[1] === "example") doc.examples.push((current = tag[2] ? [tag[2]] : []))
    else if (tag[1] === "since" || tag[1] === "category") ((doc[tag[1]] = tag[2].trim()), (current = []))
    else (doc.description.push("", `**@${tag[1]}** ${tag[2]}`), (current = doc.description))
  }
  doc.description = doc.description.join("\n").trim()
  doc.examples = doc.examples
    .map((lines) => lines.filter((line) => !/^\s*```/.test(line)).join("\n"))
    .map((text) => text.replace(/^\n+|\s+$/g, ""))
    .filter((text) => text.length > 0)
  return doc
}

/** Index just past the end of the quoted string or comment starting at `i`, or `i` when there is none. */
const skip = (src, i) => {
  const c = src[i]
  if (c === '"' || c === "'" || c === "`") {
    let j = i + 1
    while (j < src.length && src[j] !== c) j += src[j] === "\\" ? 2 : 1
    return j + 1
  }
  if (c === "/" && src[i + 1] === "/") return src.indexOf("\n", i) === -1 ? src.length : src.indexOf("\n", i)
  if (c === "/" && src[i + 1] === "*") return src.indexOf("*/", i) + 2
  return i
}

/** Scans from `i` at bracket depth 0 and returns the index where `stop(src, j)` first holds at depth 0. */
const scan = (src, i, stop) => {
  let depth = 0
  for (let j = i; j < src.length;) {
    const next = skip(src, j)
    if (next !== j) {
      j = next
      continue
    }
    const c = src[j]
    if (depth === 0 && stop(src, j)) return j
    if ("([{<".includes(c)) depth++
    else if (")]}".includes(c) || (c === ">" && src[j - 1] !== "=")) depth = Math.max(0, depth - 1)
    j++
  }
  return src.length
}

const prevChar = (src, j) => src.slice(0, j).trimEnd().slice(-1)
const isAssign = (src, j) => src[j] === "=" && !"=>".includes(src[j + 1]) && !"=!<>".includes(src[j - 1])
const isBody = (src, j) => src[j] === "{" && !":|&,(<=".includes(prevChar(src, j))
const isArrow = (src, j) => src[j] === "=" && src[j + 1] === ">"
const isStatementEnd = (src, j) => src[j] === "\n" && /^(\n|[^\s|&])/.test(src.slice(j + 1, j + 2))

/** The readable signature of the declaration starting at `start` (the `export` keyword). */
const signature = (src, start, kind) => {
  let text
  if (kind === "const" || kind === "let" || kind === "declare const") {
    const eq = scan(src, start, (s, j) => isAssign(s, j) || isStatementEnd(s, j))
    text = src.slice(start, eq)
    const line = src.slice(start, src.indexOf("\n", start))
    const init = src.slice(eq + 1).trimStart()
    const arrow = src[eq] === "=" && /^(async\s*)?[(<]/.test(init)
    // A short value without a type annotation (a number, a string, a one-line schema): show it all.
    const short = !text.includes(":") && line.length <= 100 && isStatementEnd(src, start + line.length)
    if (src[eq] === "=" && !arrow && short) return line
    if (arrow) {
      // An arrow function without a type annotation: show its parameters and return type.
      const from = src.length - init.length
      text = `${text.trimEnd()} = ${src.slice(from, scan(src, from, isArrow)).trimEnd()} => ...`
    }
  } else if (kind === "interface") {
    // An interface is its members: show its body (balanced braces), up to 40 lines.
    const open = scan(src, start, (s, j) => isBody(s, j) || isStatementEnd(s, j))
    let end = open
    for (let depth = 0; end < src.length; end++) {
      if (src[end] === "{") depth++
      else if (src[end] === "}" && --depth === 0) break
    }
    const lines = src.slice(start, end + 1).split("\n")
    return lines.length > 40 ? [...lines.slice(0, 39), "  // ..."].join("\n") : lines.join("\n")
  } else if (kind === "class" || kind === "function") {
    text = src.slice(
      start,
      scan(src, start, (s, j) => isBody(s, j) || isStatementEnd(s, j))
    )
  } else text = src.slice(start, scan(src, start, isStatementEnd))
  const lines = text.trimEnd().split("\n")
  return lines.length > 8 ? [...lines.slice(0, 7), "  // ..."].join("\n") : lines.join("\n")
}

const declaration =
  /^export\s+(?:(declare\s+const|const|let|async\s+function\*?|function\*?|abstract\s+class|class|interface|type)\s+([A-Za-z_$][\w$]*)|(type\s+)?\{([^}]*)\})/

/** The header and the exports of one module. */
const parseModule = (path) => {
  const src = readFileSync(path, "utf8")
  const header = /^\s*(\/\*\*[\s\S]*?\*\/)/.exec(src)
  const exports = []
  const re = /^export\b/gm
  for (let m; (m = re.exec(src));) {
    const d = declaration.exec(src.slice(m.index))
    if (d === null) continue
    const kind = (d[1] ?? "reexport")
      .replace(/\s+/g, " ")
      .replace(/^async /, "")
      .replace(/\*$/, "")
    const names = d[2]
      ? [d[2]]
      : d[4]
          .split(",")
          .map((n) =>
            n
              .trim()
              .split(/\s+as\s+/)
              .pop()
          )
          .filter(Boolean)
    const end = src.lastIndexOf("*/", m.index)
    const open = end === -1 || src.slice(end + 2, m.index).trim() !== "" ? -1 : src.lastIndexOf("/**", end)
    const isHeader = header !== null && open === src.indexOf("/**")
    const doc = open === -1 || isHeader ? null : parseDoc(src.slice(open, end + 2))
    const sig = kind === "reexport" ? src.slice(m.index, src.indexOf("}", m.index) + 1) : signature(src, m.index, kind)
    for (const name of names) exports.push({ name, kind, doc, signature: sig })
  }
  const doc = header ? parseDoc(header[1]) : { description: "", examples: [] }
  return { header: doc.description, examples: doc.examples, exports }
}

const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0)
const byName = (a, b) => compare(a.name.toLowerCase(), b.name.toLowerCase()) || compare(a.name, b.name)
const fence = (code) => ["```ts", code, "```", ""]

const renderPackage = (dir) => {
  const pkg = JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8"))
  const srcDir = join(root, "packages", dir, "src")
  const index = existsSync(join(srcDir, "index.ts")) ? parseModule(join(srcDir, "index.ts")).header : ""
  const files = readdirSync(srcDir)
    .filter((f) => f.endsWith(".ts") && f !== "index.ts" && !f.endsWith(".d.ts"))
    .sort()
  const out = [`# ${pkg.name}`, "", "<!-- Generated by scripts/api-docs.mjs from the JSDoc; do not edit. -->", ""]
  out.push(index || pkg.description || "", "")
  const modules = []
  for (const file of files) {
    const name = file.replace(/\.ts$/, "")
    const mod = parseModule(join(srcDir, file))
    modules.push({ name, summary: mod.header.split(/\n\n/)[0].replace(/\s*\n\s*/g, " ") })
    out.push(`## ${name}`, "", mod.header, "")
    out.push(...fence(`import * as ${name} from "${pkg.name}/${name}"`))
    for (const example of mod.examples) out.push("Example:", "", ...fence(example))
    const groups = new Map()
    for (const e of mod.exports) {
      if (e.doc === null) warnings.push(`packages/${dir}/src/${file}: ${e.name} has no JSDoc`)
      else if (!e.doc.category) warnings.push(`packages/${dir}/src/${file}: ${e.name} has no @category`)
      else if (!e.doc.description) bare.push(`packages/${dir}/src/${file}: ${e.name} (${e.kind})`)
      const group = e.doc === null ? "undocumented" : (e.doc.category ?? "uncategorized")
      groups.set(group, [...(groups.get(group) ?? []), e])
    }
    const order = [...groups.keys()].sort((a, b) => (a === "undocumented") - (b === "undocumented") || (a < b ? -1 : 1))
    for (const group of order) {
      out.push(`### ${group}`, "")
      for (const e of groups.get(group).slice().sort(byName)) {
        out.push(`#### ${name}.${e.name}`, "", ...fence(e.signature))
        if (e.doc?.description) out.push(e.doc.description, "")
        for (const example of e.doc?.examples ?? []) out.push("Example:", "", ...fence(example))
        if (e.doc?.since) out.push(`Since ${e.doc.since}`, "")
      }
    }
  }
  return {
    name: pkg.name,
    text:
      out
        .join("\n")
        .replace(/\n{3,}/g, "\n\n")
        .trimEnd() + "\n",
    modules
  }
}

const slug = (s) =>
  s
    .toLowerCase()
    .replace(/[^\w\- ]/g, "")
    .replace(/ /g, "-")

const generated = new Map()
const readme = ["# API reference", "", "<!-- Generated by scripts/api-docs.mjs from the JSDoc; do not edit. -->", ""]
for (const dir of packages) {
  const { name, text, modules } = renderPackage(dir)
  generated.set(`${dir}.md`, text)
  readme.push(`## [${name}](${dir}.md)`, "")
  for (const m of modules) readme.push(`- [${m.name}](${dir}.md#${slug(m.name)}): ${m.summary}`)
  readme.push("")
}
generated.set("README.md", readme.join("\n").trimEnd() + "\n")

for (const warning of warnings) console.warn(`warning: ${warning}`)
if (process.argv.includes("--verbose")) for (const b of bare) console.warn(`no description: ${b}`)
else if (bare.length > 0)
  console.warn(`api-docs: ${bare.length} exports have a JSDoc without a description (--verbose lists them)`)
if (check) {
  const existing = existsSync(outDir) ? readdirSync(outDir).filter((f) => f.endsWith(".md")) : []
  const stale = [...new Set([...generated.keys(), ...existing])].filter((f) => {
    const path = join(outDir, f)
    return !existsSync(path) || readFileSync(path, "utf8") !== generated.get(f)
  })
  if (stale.length > 0) {
    console.error(`api-docs: stale: ${stale.map((f) => `docs/reference/api/${f}`).join(", ")}`)
    console.error("api-docs: run `node scripts/api-docs.mjs` and commit the result")
    process.exit(1)
  }
  console.log(`api-docs: docs/reference/api is up to date (${warnings.length} warnings)`)
} else {
  mkdirSync(outDir, { recursive: true })
  for (const [file, text] of generated) writeFileSync(join(outDir, file), text)
  console.log(`api-docs: wrote ${generated.size} files to docs/reference/api (${warnings.length} warnings)`)
}
