/**
 * What the importer command prints: a progress bar (on a terminal) and the summary.
 */
import type * as Import from "@convo/core/Import"

/** `[#########-----------]  12/40 conversations, 1,234 messages`, fitted to `columns`. */
export const bar = (progress: Import.Progress, columns: number): string => {
  const label = ` ${progress.conversations}/${progress.of} conversations, ${progress.messages.toLocaleString("en")} messages`
  const width = Math.max(10, Math.min(40, columns - label.length - 3))
  const filled = progress.of === 0 ? width : Math.round((progress.conversations / progress.of) * width)
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]${label}`
}

/** The summary, one fact a line, then every skipped turn or conversation and why. */
export const summaryText = (summary: Import.Summary): string => {
  const lines = [
    `imported from ${summary.source}:`,
    `  conversations: ${summary.conversations} in the source, ${summary.created} created`,
    `  messages: ${summary.messages} read, ${summary.imported} imported, ${summary.alreadyImported} already imported`,
    `  skipped: ${summary.skipped.length}`,
    ...summary.skipped.map(
      (s) => `    ${s.conversation}${s.row === null ? "" : ` (turn from row ${s.row})`}: ${s.reason}`
    )
  ]
  return lines.join("\n") + "\n"
}
