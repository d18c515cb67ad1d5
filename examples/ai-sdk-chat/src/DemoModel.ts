/**
 * The example's offline model: core's `OfflineModel` (no network, no API key), plus one tool call
 * so the page shows tool parts. A user message that asks for "the time in <city>" makes it call the
 * `clock` tool; the tool's result comes back as the answer. Anything else gets the offline reply,
 * streamed word by word.
 */
import { OfflineModel } from "@convo/core/OfflineModel"
import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager"
import type { BindToolsInput } from "@langchain/core/language_models/chat_models"
import { AIMessageChunk, type BaseMessage } from "@langchain/core/messages"
import { ChatGenerationChunk } from "@langchain/core/outputs"

const timeIn = /\btime in ([\p{L} ]{2,40})\??$/iu

const contentText = (message: BaseMessage | undefined): string =>
  message === undefined ? "" : typeof message.content === "string" ? message.content : ""

export class DemoModel extends OfflineModel {
  override _llmType(): string {
    return "convo-demo"
  }

  /** The tools are the agent's; the demo's one tool call does not depend on them. */
  override bindTools(_tools: Array<BindToolsInput>): DemoModel {
    return new DemoModel({ delayMillis: this.delayMillis })
  }

  override async *_streamResponseChunks(
    messages: Array<BaseMessage>,
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun
  ): AsyncGenerator<ChatGenerationChunk> {
    const last = messages.at(-1)
    if (last?.getType() === "tool") {
      const answer = `The clock says: ${contentText(last)}`
      for (const word of answer.match(/\S+\s*/g) ?? []) {
        yield new ChatGenerationChunk({ message: new AIMessageChunk({ content: word }), text: word })
      }
      return
    }
    const asked = last?.getType() === "human" ? timeIn.exec(contentText(last).trim()) : null
    if (asked !== null) {
      const args = JSON.stringify({ city: asked[1]!.trim() })
      yield new ChatGenerationChunk({
        message: new AIMessageChunk({
          content: "",
          tool_call_chunks: [{ type: "tool_call_chunk", index: 0, id: `call-${messages.length}`, name: "clock", args }]
        }),
        text: ""
      })
      return
    }
    yield* super._streamResponseChunks(messages, options, runManager)
  }
}
