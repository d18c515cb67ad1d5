/**
 * Copies existing chat histories into convo's tables, in order and idempotently: re-running an
 * import stores nothing twice, and a source that grew since is imported from where it stopped.
 *
 * - `fromPyhub` reads django-pyhub-ai's own tables (`pyhub_ai_conversation`,
 *   `pyhub_ai_conversationmessage`) on PostgreSQL or SQLite. Each pyhub conversation becomes a
 *   convo conversation with public id `pyhub-<pk>` and the same owner (Django's user pk as text);
 *   its messages are read in primary-key order (pyhub had no order column), each keeping its own
 *   user and its `content` JSON exactly (the text as read: byte for byte from SQLite; from
 *   PostgreSQL's `jsonb`, which normalises key order and spacing, the same JSON value).
 * - `fromLangChain` reads a table of LangChain's `PostgresChatMessageHistory` (`id`, `session_id`,
 *   `message` as LangChain's stored-message JSON `{"type", "data"}`), on PostgreSQL or SQLite.
 *   Each session becomes a conversation whose public id is the session id; messages are read in
 *   `id` order and stored as convo stores LangChain messages.
 *
 * Messages are grouped into turns as convo stores them: a turn starts at each human message (the
 * rows before a conversation's first human message form a turn of their own). A turn's id is
 * derived from its first source row (`pyhub-<pk>`, `langchain-<id>`), so a re-run finds it stored
 * and skips it. Turns go in with `ConversationStore.bulkAppend`, `batchSize` at a time, each batch
 * one transaction. A row the target cannot store (e.g. `NaN` in a DataFrame, which SQLite's text
 * column held and PostgreSQL's `jsonb` refuses) is not lost silently: its turn is skipped and
 * listed in the summary, and the rest goes on. The source is only read.
 *
 * The importer needs the source's `SqlClient` and the target's `ConversationStore` (which holds
 * its own client, so source and target may be different databases, or the same one).
 *
 * @example
 * ```ts
 * import * as ConversationStore from "@convo/core/ConversationStore"
 * import * as Import from "@convo/core/Import"
 * import type * as SqlClient from "@effect/sql/SqlClient"
 * import * as Effect from "effect/Effect"
 *
 * // with the pyhub database as SqlClient and convo's store provided
 * const program: Effect.Effect<Import.Summary, Import.ImportError, SqlClient.SqlClient | ConversationStore.ConversationStore> =
 *   Import.fromPyhub({ onProgress: (p) => console.log(`${p.conversations}/${p.of}`) })
 * ```
 *
 * @since 0.2.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { AppendResult, NewTurn } from "./ConversationStore.js"
import { ConversationStore, isPublicId, StoreError } from "./ConversationStore.js"
import * as Sources from "./internal/importSources.js"

/**
 * Where an import stands, after each conversation.
 *
 * @since 0.2.0
 * @category models
 */
export interface Progress {
  /** Conversations done so far. */
  readonly conversations: number
  /** Conversations in the source. */
  readonly of: number
  /** Source rows read so far. */
  readonly messages: number
}

/**
 * Something the import did not store, and why.
 *
 * @since 0.2.0
 * @category models
 */
export interface Skipped {
  /** The public id of the conversation. */
  readonly conversation: string
  /** The first source row of the skipped turn, or `null` when the whole conversation was skipped. */
  readonly row: string | null
  readonly reason: string
}

/**
 * What an import did.
 *
 * @since 0.2.0
 * @category models
 */
export interface Summary {
  readonly source: "django-pyhub-ai" | "langchain"
  /** Conversations in the source. */
  readonly conversations: number
  /** Conversations this run created (the others existed from an earlier run). */
  readonly created: number
  /** Source rows read. */
  readonly messages: number
  /** Rows this run stored. */
  readonly imported: number
  /** Rows an earlier run stored. */
  readonly alreadyImported: number
  readonly skipped: ReadonlyArray<Skipped>
}

/**
 * The source could not be read (`Source`) or the target failed (`Store`: unreachable, or refused
 * something other than a single turn).
 *
 * @since 0.2.0
 * @category errors
 */
export class ImportError extends Schema.TaggedError<ImportError>("@convo/core/Import/ImportError")("ImportError", {
  reason: Schema.Literal("Source", "Store"),
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `import: ${this.reason}: ${this.detail}`
  }
}

/**
 * What every importer takes.
 *
 * @since 0.2.0
 * @category models
 */
export interface CommonOptions {
  /** Turns per `bulkAppend` (one transaction). Default 500. */
  readonly batchSize?: number | undefined
  /** Called after each conversation. */
  readonly onProgress?: ((progress: Progress) => void) | undefined
}

/**
 * Options of `fromPyhub`.
 *
 * @since 0.2.0
 * @category models
 */
export interface PyhubOptions extends CommonOptions {
  /** Prefix of pyhub's tables (its Django app label and `_`). Default `"pyhub_ai_"`. */
  readonly tablePrefix?: string | undefined
  /** Prefix of the public ids given to imported conversations. Default `"pyhub-"`. */
  readonly publicIdPrefix?: string | undefined
}

/**
 * Options of `fromLangChain`.
 *
 * @since 0.2.0
 * @category models
 */
export interface LangChainOptions extends CommonOptions {
  /** The history table. Default `"langchain_chat_histories"` (LangChain.js); Python's default is `"message_store"`. */
  readonly table?: string | undefined
  /** The public id of a session's conversation. Default: the session id itself. */
  readonly publicId?: ((sessionId: string) => string) | undefined
  /** The owner of a session's conversation. Default: nobody (`null`). */
  readonly userId?: ((sessionId: string) => string | null) | undefined
}

const sourceError = (detail: string) => (cause: unknown) => new ImportError({ reason: "Source", detail, cause })
const storeError = (cause: unknown) =>
  new ImportError({ reason: "Store", detail: cause instanceof Error ? cause.message : String(cause), cause })

/** A batch failed on one turn's content: store the turns one by one, skipping the ones refused. */
const isTurnRefusal = (error: unknown): boolean =>
  error instanceof StoreError && (error.reason === "Encode" || error.reason === "InvalidInput")

const run = (source: Sources.Source, options: CommonOptions | undefined) =>
  Effect.gen(function* () {
    const store = yield* ConversationStore
    const batchSize = options?.batchSize ?? 500
    const conversations = yield* source.conversations.pipe(Effect.mapError(sourceError("reading the conversations")))
    const skipped: Array<Skipped> = []
    let created = 0
    let messages = 0
    let imported = 0
    let alreadyImported = 0
    let done = 0

    const tally = (publicId: string, turns: ReadonlyArray<Sources.SourceTurn>, results: ReadonlyArray<AppendResult>) =>
      results.forEach((result, i) => {
        const turn = turns[i]!
        if (!result.duplicate) imported += turn.messages.length
        else if (result.rows.length === turn.messages.length) alreadyImported += turn.messages.length
        else {
          skipped.push({
            conversation: publicId,
            row: turn.firstRow,
            reason: `the turn changed since an earlier import (${result.rows.length} rows stored, ${turn.messages.length} in the source); not imported again`
          })
        }
      })

    for (const conversation of conversations) {
      if (!isPublicId(conversation.publicId)) {
        skipped.push({
          conversation: conversation.publicId,
          row: null,
          reason: `not a valid public id (map it with the publicId option): ${JSON.stringify(conversation.publicId)}`
        })
        done++
        continue
      }
      const existing = yield* store.get(conversation.publicId).pipe(
        Effect.catchTag("ConversationNotFound", () => Effect.succeed(null)),
        Effect.mapError(storeError)
      )
      if (existing !== null && existing.userId !== conversation.userId) {
        skipped.push({
          conversation: conversation.publicId,
          row: null,
          reason: `a conversation with this public id already exists with another owner (${String(existing.userId)})`
        })
        done++
        continue
      }
      const target =
        existing ??
        (yield* store
          .create({
            publicId: conversation.publicId,
            userId: conversation.userId,
            metadata: conversation.metadata
          })
          .pipe(Effect.mapError(storeError)))
      if (existing === null) created++

      const store1 = (turns: ReadonlyArray<Sources.SourceTurn>) =>
        Effect.gen(function* () {
          if (turns.length === 0) return
          const newTurns: Array<NewTurn> = turns.map((turn) => ({
            conversationId: target.id,
            userId: turn.userId,
            turnId: turn.turnId,
            messages: turn.messages
          }))
          const results = yield* store.bulkAppend(newTurns).pipe(
            Effect.catchIf(isTurnRefusal, () =>
              Effect.forEach(newTurns, (turn, i) =>
                store.append(turn).pipe(
                  Effect.catchIf(isTurnRefusal, (error) => {
                    skipped.push({
                      conversation: conversation.publicId,
                      row: turns[i]!.firstRow,
                      reason: error.message
                    })
                    return Effect.succeed(null)
                  })
                )
              )
            ),
            Effect.mapError(storeError)
          )
          const kept = results.flatMap((result, i) => (result === null ? [] : [[turns[i]!, result] as const]))
          tally(
            conversation.publicId,
            kept.map(([turn]) => turn),
            kept.map(([, result]) => result)
          )
        })

      let pending: Array<Sources.SourceTurn> = []
      yield* source
        .turns(conversation, (page) => {
          messages += page.rows
          for (const bad of page.skipped) skipped.push({ conversation: conversation.publicId, ...bad })
          pending.push(...page.turns)
          if (pending.length < batchSize) return Effect.void
          const batch = pending
          pending = []
          return store1(batch)
        })
        .pipe(
          Effect.mapError((error) =>
            error instanceof ImportError ? error : sourceError(`reading ${conversation.publicId}`)(error)
          )
        )
      yield* store1(pending)
      done++
      options?.onProgress?.({ conversations: done, of: conversations.length, messages })
    }
    const summary: Summary = {
      source: source.name,
      conversations: conversations.length,
      created,
      messages,
      imported,
      alreadyImported,
      skipped
    }
    return summary
  })

/**
 * Imports django-pyhub-ai's conversations and messages from the `SqlClient` in context into the
 * `ConversationStore` in context.
 *
 * @since 0.2.0
 * @category importers
 */
export const fromPyhub = (
  options?: PyhubOptions
): Effect.Effect<Summary, ImportError, SqlClient.SqlClient | ConversationStore> =>
  Effect.flatMap(Sources.pyhub(options?.tablePrefix ?? "pyhub_ai_", options?.publicIdPrefix ?? "pyhub-"), (source) =>
    run(source, options)
  ).pipe(Effect.withSpan("Import.fromPyhub"))

/**
 * Imports a LangChain `PostgresChatMessageHistory` table from the `SqlClient` in context into the
 * `ConversationStore` in context, one conversation per session.
 *
 * @since 0.2.0
 * @category importers
 */
export const fromLangChain = (
  options?: LangChainOptions
): Effect.Effect<Summary, ImportError, SqlClient.SqlClient | ConversationStore> =>
  Effect.flatMap(
    Sources.langChain(
      options?.table ?? "langchain_chat_histories",
      options?.publicId ?? ((sessionId) => sessionId),
      options?.userId ?? (() => null)
    ),
    (source) => run(source, options)
  ).pipe(Effect.withSpan("Import.fromLangChain"))
