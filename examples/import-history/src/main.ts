/**
 * The history importer as a command: copies django-pyhub-ai's conversations, or a LangChain
 * `PostgresChatMessageHistory` table, into convo's tables (migrating them first). Idempotent: run
 * it again and it imports nothing twice. A progress bar on a terminal, a summary at the end.
 *
 *   npx tsx examples/import-history/src/main.ts --from pyhub --source sqlite:db.sqlite3 --target postgres://postgres@127.0.0.1/convo
 *   npx tsx examples/import-history/src/main.ts --from langchain --table message_store --source postgres://… --target sqlite:convo.sqlite
 *
 * Options: `--from pyhub|langchain`, `--source URL`, `--target URL` (a `postgres://` URL or
 * `sqlite:PATH`), `--table NAME` (LangChain's table), `--batch N` (turns per transaction),
 * `--pyhub-mode` (the target is shared with a Django deployment: write with `MessageCodec.layerPyhub`).
 * Exit code 0 when everything was imported, 2 when rows were skipped (listed), 1 on an error.
 */
import * as Import from "@convo/core/Import"
import * as MessageCodec from "@convo/core/MessageCodec"
import * as SqlConversationStore from "@convo/core/SqlConversationStore"
import * as SqlMigrations from "@convo/core/SqlMigrations"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { parseArgs } from "node:util"
import { bar, summaryText } from "./report.js"

const { values } = parseArgs({
  options: {
    from: { type: "string" },
    source: { type: "string" },
    target: { type: "string" },
    table: { type: "string" },
    batch: { type: "string" },
    "pyhub-mode": { type: "boolean", default: false }
  }
})

const usage =
  "usage: main.ts --from pyhub|langchain --source URL --target URL [--table NAME] [--batch N] [--pyhub-mode]"

const client = (url: string): Layer.Layer<SqlClient.SqlClient, unknown> =>
  url.startsWith("postgres://") || url.startsWith("postgresql://")
    ? PgClient.layer({ url: Redacted.make(url) })
    : SqliteClient.layer({ filename: url.replace(/^sqlite:/, "") })

const main = Effect.gen(function* () {
  if ((values.from !== "pyhub" && values.from !== "langchain") || !values.source || !values.target) {
    return yield* Effect.fail(new Error(usage))
  }
  const batchSize = values.batch === undefined ? undefined : Number(values.batch)
  if (batchSize !== undefined && !(Number.isSafeInteger(batchSize) && batchSize > 0)) {
    return yield* Effect.fail(new Error(`--batch must be a positive integer\n${usage}`))
  }
  const tty = process.stderr.isTTY === true
  const onProgress = (progress: Import.Progress) => {
    if (tty) process.stderr.write(`\r${bar(progress, process.stderr.columns ?? 80)}`)
  }
  const options = { batchSize, onProgress }
  const importing =
    values.from === "pyhub"
      ? Import.fromPyhub(options)
      : Import.fromLangChain({ ...options, ...(values.table ? { table: values.table } : {}) })
  const Target = SqlConversationStore.layer().pipe(
    Layer.provideMerge(SqlMigrations.layer()),
    Layer.provide(values["pyhub-mode"] ? MessageCodec.layerPyhub : MessageCodec.layer),
    Layer.provide(client(values.target))
  )
  const summary = yield* importing.pipe(Effect.provide(client(values.source)), Effect.provide(Target))
  if (tty) process.stderr.write("\n")
  process.stdout.write(summaryText(summary))
  return summary.skipped.length === 0 ? 0 : 2
})

Effect.runPromise(main).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  }
)
