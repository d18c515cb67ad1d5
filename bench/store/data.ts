/**
 * The benchmark's conversation turns: a ~100-character human message and a ~600-character AI
 * reply with `usage_metadata`, in the mixed Korean / English / Chinese of the seed's language
 * tutor, built deterministically (a seeded generator) so every run stores the same text.
 */
import { AIMessage, HumanMessage } from "@langchain/core/messages"

/** One turn: what `store.append` receives. */
export interface Turn {
  readonly human: HumanMessage
  readonly ai: AIMessage
  /** The AI message's `usage_metadata` counts. */
  readonly inputTokens: number
  readonly outputTokens: number
}

/** Characters of a human message's text. */
export const humanChars = 100
/** Characters of an AI message's text. */
export const aiChars = 600

const korean = [
  "오늘 카페에서 커피를 주문하는 연습을 하고 싶어요.",
  "이 문장이 자연스러운지 확인해 주세요.",
  "성조가 너무 어려워서 자꾸 틀려요.",
  "다음에는 식당에서 음식을 주문하는 상황으로 해 볼까요?",
  "좋아요! 발음이 많이 좋아졌네요.",
  "'了'는 동작이 완료되었음을 나타내는 조사예요.",
  "여기서는 '一杯'라고 말하는 것이 더 자연스러워요.",
  "천천히 다시 한 번 말해 볼게요.",
  "한국어로 설명해 주시면 감사하겠습니다.",
  "가격을 물어볼 때는 '多少钱'이라고 해요."
]

const chinese = [
  "你好，请问我可以帮你点什么咖啡吗？",
  "我想要一杯热拿铁，少糖，谢谢。",
  "这个多少钱？可以用信用卡吗？",
  "请再说一遍，我没听清楚。",
  "我们今天练习在餐厅点菜吧。",
  "你的发音越来越好了，继续加油！",
  "请问洗手间在哪里？",
  "我下个星期要去北京出差。"
]

const english = [
  "Could you explain the difference between 了 and 过?",
  "Let's practise ordering coffee at a café.",
  "Great job — your tones are much clearer now.",
  "Try again, a little more slowly this time.",
  "In this situation a polite form sounds more natural.",
  "Here is the corrected sentence with pinyin: ",
  "Nǐ hǎo, wǒ xiǎng yào yì bēi rè nátiě.",
  "Next, ask the barista how much it costs."
]

/** mulberry32: a small seeded generator, so the text is the same on every run. */
const generator = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pools = [korean, korean, chinese, english] as const

/** Sentences drawn from the three languages until `chars` characters, cut at exactly `chars`. */
const text = (random: () => number, chars: number): string => {
  let out = ""
  while (out.length < chars) {
    const pool = pools[Math.floor(random() * pools.length)]!
    out += (out.length === 0 ? "" : " ") + pool[Math.floor(random() * pool.length)]!
  }
  return out.slice(0, chars)
}

const hex = (random: () => number, digits: number): string =>
  Array.from({ length: digits }, () => Math.floor(random() * 16).toString(16)).join("")

/** A run id shaped like LangChain's (`run-<uuid>`), as the seed's stored AI message carries. */
const runId = (random: () => number): string =>
  `run-${hex(random, 8)}-${hex(random, 4)}-4${hex(random, 3)}-a${hex(random, 3)}-${hex(random, 12)}`

/** The `i`-th turn of the benchmark (deterministic). */
export const turn = (i: number): Turn => {
  const random = generator(0x5eed + i)
  const input = 120 + Math.floor(random() * 2_000)
  const output = 150 + Math.floor(random() * 200)
  const human = new HumanMessage({ content: text(random, humanChars) })
  const ai = new AIMessage({
    content: text(random, aiChars),
    id: runId(random),
    usage_metadata: {
      input_tokens: input,
      output_tokens: output,
      total_tokens: input + output,
      input_token_details: { audio: 0, cache_read: 0 },
      output_token_details: { audio: 0, reasoning: 0 }
    }
    // LangChain's field types infer `usage_metadata` as `undefined` under this compiler; the class takes it.
  } as any)
  return { human, ai, inputTokens: input, outputTokens: output }
}

/** Distinct turns the benchmark cycles through (histories repeat them: 10,000 turns = 20 rounds). */
export const distinctTurns = 500
