// Docs check: every TypeScript code block in docs/ is a copy of a region of code that compiles.
//
// In the markdown, a TypeScript block is preceded by a comment naming its source:
//
//   <!-- snippet: examples/language-tutor/src/rooms/Rooms.ts#before-create -->
//   ```ts
//   ...
//   ```
//
// and the source marks the region:  // #region before-create  ...  // #endregion
// The block must equal the region verbatim (common indentation removed, nested region markers
// dropped; a `<!-- prettier-ignore -->` line may sit between the comment and the block). Every snippet comment anywhere under docs/ is checked. Under the strict folders
// (`strict` below: the tutorials and guides), a ts/typescript block without a snippet comment is an error
// too, so no snippet there can rot.
//
// Usage: node scripts/check-docs.mjs           check, exit 1 on any problem
//        node scripts/check-docs.mjs --write   rewrite the blocks from their regions
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"

const root = new URL("..", import.meta.url).pathname
const write = process.argv.includes("--write")

const walk = (dir) =>
  existsSync(dir)
    ? readdirSync(dir).flatMap((name) => {
        const path = join(dir, name)
        return statSync(path).isDirectory() ? walk(path) : path.endsWith(".md") ? [path] : []
      })
    : []

const regionStart = /^\s*\/\/\s*#region\s+(\S+)\s*$/
const regionEnd = /^\s*\/\/\s*#endregion\b.*$/

/** The lines of region `name` in `text`, or an error message. */
const extract = (text, name) => {
  const lines = text.split("\n")
  const start = lines.findIndex((line) => regionStart.exec(line)?.[1] === name)
  if (start === -1) return { error: `no "// #region ${name}"` }
  const body = []
  let depth = 1
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i]
    if (regionStart.test(line)) {
      depth++
      continue
    }
    if (regionEnd.test(line)) {
      depth--
      if (depth === 0) return { lines: dedent(body) }
      continue
    }
    body.push(line)
  }
  return { error: `"// #region ${name}" has no "// #endregion"` }
}

const dedent = (lines) => {
  const indents = lines.filter((line) => line.trim().length > 0).map((line) => /^ */.exec(line)[0].length)
  const cut = indents.length === 0 ? 0 : Math.min(...indents)
  const out = lines.map((line) => line.slice(cut).trimEnd())
  while (out.length > 0 && out[0] === "") out.shift()
  while (out.length > 0 && out[out.length - 1] === "") out.pop()
  return out
}

const snippetComment = /^<!--\s*snippet:\s*(\S+?)#(\S+)\s*-->\s*$/
const fence = /^(```+|~~~+)\s*([A-Za-z0-9_+-]*)/
const tsLanguages = new Set(["ts", "typescript", "tsx"])
const strict = ["docs/tutorials/", "docs/guides/"]

let problems = 0
let checked = 0
const report = (file, line, message) => {
  console.error(`${relative(root, file)}:${line}: ${message}`)
  problems++
}

for (const file of walk(join(root, "docs"))) {
  const lines = readFileSync(file, "utf8").split("\n")
  let changed = false
  for (let i = 0; i < lines.length; i++) {
    const open = fence.exec(lines[i])
    if (open === null) continue
    const marker = open[1]
    let close = i + 1
    while (close < lines.length && !lines[close].startsWith(marker)) close++
    if (close >= lines.length) {
      report(file, i + 1, "code block is not closed")
      break
    }
    const language = open[2].toLowerCase()
    // the snippet comment: the closest non-blank line above the block
    // (a `<!-- prettier-ignore -->` between them keeps prettier from reflowing the block)
    let above = i - 1
    while (above >= 0 && (lines[above].trim() === "" || lines[above].trim() === "<!-- prettier-ignore -->")) above--
    const snippet = above >= 0 ? snippetComment.exec(lines[above].trim()) : null
    if (snippet === null) {
      const isStrict = strict.some((dir) => relative(root, file).startsWith(dir))
      if (isStrict && tsLanguages.has(language))
        report(file, i + 1, "TypeScript block without a <!-- snippet: path#region --> comment")
      i = close
      continue
    }
    const [, sourcePath, region] = snippet
    const source = join(root, sourcePath)
    if (!existsSync(source)) {
      report(file, above + 1, `snippet source ${sourcePath} does not exist`)
      i = close
      continue
    }
    const extracted = extract(readFileSync(source, "utf8"), region)
    if (extracted.error !== undefined) {
      report(file, above + 1, `${sourcePath}: ${extracted.error}`)
      i = close
      continue
    }
    checked++
    const block = lines.slice(i + 1, close)
    if (block.join("\n") !== extracted.lines.join("\n")) {
      if (write) {
        lines.splice(i + 1, close - i - 1, ...extracted.lines)
        close = i + 1 + extracted.lines.length
        changed = true
      } else {
        const at = block.findIndex((line, k) => line !== extracted.lines[k])
        const index = at === -1 ? Math.min(block.length, extracted.lines.length) : at
        report(
          file,
          i + 2 + index,
          `block differs from ${sourcePath}#${region} at its line ${index + 1}:\n` +
            `    docs:   ${JSON.stringify(block[index] ?? "<end of block>")}\n` +
            `    source: ${JSON.stringify(extracted.lines[index] ?? "<end of region>")}\n` +
            `  (node scripts/check-docs.mjs --write copies the regions into the docs)`
        )
      }
    }
    i = close
  }
  if (changed) writeFileSync(file, lines.join("\n"))
}

if (problems > 0) {
  console.error(`docs: ${problems} problem(s)`)
  process.exit(1)
}
console.log(`docs: ${checked} snippet(s) match their source${write ? " (rewritten where needed)" : ""}`)
