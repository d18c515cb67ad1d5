import * as PromptTemplate from "@convo/core/PromptTemplate"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"

const tutorTemplate = `You are a language tutor.
{언어}로 대화를 나눕시다. 번역과 발음을 제공하지 않고 {언어}로만 답변해주세요.
"{상황}"의 상황으로 상황극을 진행합니다.
가능한한 {언어} {레벨}에 맞는 단어와 표현을 사용해주세요.
`

const tutorContext = { 언어: "중국어", 상황: "스타벅스에서 커피를 주문하는 상황", 레벨: "초급" }

const tutorExpected = `You are a language tutor.
중국어로 대화를 나눕시다. 번역과 발음을 제공하지 않고 중국어로만 답변해주세요.
"스타벅스에서 커피를 주문하는 상황"의 상황으로 상황극을 진행합니다.
가능한한 중국어 초급에 맞는 단어와 표현을 사용해주세요.
`

describe("PromptTemplate.render", () => {
  it("renders the tutorial's Korean prompt exactly", () => {
    assert.strictEqual(PromptTemplate.render(tutorTemplate, tutorContext), tutorExpected)
    assert.strictEqual(PromptTemplate.render(tutorContext)(tutorTemplate), tutorExpected)
  })

  it("lists placeholder names once, in order", () => {
    assert.deepStrictEqual(PromptTemplate.placeholders(tutorTemplate), ["언어", "상황", "레벨"])
    assert.deepStrictEqual(PromptTemplate.placeholders("{{not}} {a_1} {first name} {a_1} { x } {}"), [
      "a_1",
      "first name"
    ])
  })

  it("renders a missing key as a visible marker and reports it", () => {
    const result = PromptTemplate.renderResult("{언어}로 {상황}, 다시 {언어}", { 상황: "카페" })
    assert.strictEqual(result.text, "{언어?}로 카페, 다시 {언어?}")
    assert.deepStrictEqual(result.missing, ["언어"])
    assert.strictEqual(PromptTemplate.render("{x}", { x: undefined }), "{x?}")
  })

  it("does not read inherited properties as values", () => {
    assert.strictEqual(PromptTemplate.render("{constructor} {toString}", {}), "{constructor?} {toString?}")
  })

  it("treats doubled braces as literal braces (str.format)", () => {
    assert.strictEqual(PromptTemplate.render("{{언어}} = {언어}", tutorContext), "{언어} = 중국어")
    assert.strictEqual(PromptTemplate.render("{{{언어}}}", tutorContext), "{중국어}")
    assert.strictEqual(PromptTemplate.render("}} {{", {}), "} {")
  })

  it("keeps braces around non-names as they are instead of failing", () => {
    assert.strictEqual(PromptTemplate.render('JSON: {"a": 1} {} { x } {', { x: 1 }), 'JSON: {"a": 1} {} { x } {')
    assert.strictEqual(PromptTemplate.render("a } b", {}), "a } b")
  })

  it("stringifies values", () => {
    const when = new Date("2024-01-02T03:04:05.000Z")
    assert.strictEqual(
      PromptTemplate.render("{n} {b} {big} {d} {o} {a} {z}", {
        n: 1.5,
        b: false,
        big: 10n,
        d: when,
        o: { k: "v" },
        a: [1, 2],
        z: null
      }),
      '1.5 false 10 2024-01-02T03:04:05.000Z {"k":"v"} [1,2] null'
    )
    const cyclic: Record<string, unknown> = {}
    cyclic["self"] = cyclic
    assert.strictEqual(PromptTemplate.render("{c}", { c: cyclic }), "[object Object]")
  })
})

describe("PromptTemplate.fromFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "convo-prompt-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const file = (name: string, content: string) => {
    const path = join(dir, name)
    writeFileSync(path, content, "utf8")
    return path
  }
  const load = (path: string, options?: PromptTemplate.FromFileOptions) =>
    PromptTemplate.fromFile(path, options).pipe(Effect.provide(NodeFileSystem.layer))
  const loadError = (path: string, options?: PromptTemplate.FromFileOptions) =>
    load(path, options).pipe(
      Effect.either,
      Effect.map((either) => {
        assert.isTrue(Either.isLeft(either), "expected a failure")
        const error = (either as Either.Left<PromptTemplate.PromptTemplateError, string>).left
        assert.isTrue(PromptTemplate.isPromptTemplateError(error))
        return error
      })
    )

  it.effect("loads .txt and .md as the template (BOM dropped)", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* load(file("tutor.txt", tutorTemplate)), tutorTemplate)
      assert.strictEqual(yield* load(file("tutor.md", "\uFEFF# {언어}")), "# {언어}")
      assert.strictEqual(yield* load(file("UPPER.TXT", "x")), "x")
    })
  )

  it.effect("loads the template key of a YAML file (LangChain prompt format)", () =>
    Effect.gen(function* () {
      const path = file(
        "tutor.yaml",
        `_type: prompt
input_variables: [언어, 상황, 레벨]
template: |
${tutorTemplate
  .split("\n")
  .filter((line) => line.length > 0)
  .map((line) => `  ${line}`)
  .join("\n")}
`
      )
      const template = yield* load(path)
      assert.strictEqual(PromptTemplate.render(template, tutorContext), tutorExpected)
    })
  )

  it.effect("loads system_prompt and first_user_message from a .yml file", () =>
    Effect.gen(function* () {
      const path = file(
        "agent.yml",
        'system_prompt: "{언어}로 대화해요"\nfirst_user_message: 첫 문장으로 대화를 시작해주세요.\n'
      )
      assert.strictEqual(yield* load(path), "{언어}로 대화해요")
      assert.strictEqual(yield* load(path, { key: "first_user_message" }), "첫 문장으로 대화를 시작해주세요.")
    })
  )

  it.effect("loads a JSON file", () =>
    Effect.gen(function* () {
      const path = file("tutor.json", JSON.stringify({ template: tutorTemplate }))
      assert.strictEqual(yield* load(path), tutorTemplate)
    })
  )

  it.effect("fails with NotFound for a missing file", () =>
    Effect.gen(function* () {
      const error = yield* loadError(join(dir, "nope.txt"))
      assert.strictEqual(error.reason, "NotFound")
      assert.include(error.message, "nope.txt")
    })
  )

  it.effect("fails with BadFormat for broken YAML and JSON", () =>
    Effect.gen(function* () {
      const yamlError = yield* loadError(file("bad.yaml", "template: [unclosed\n  - x: : :"))
      assert.strictEqual(yamlError.reason, "BadFormat")
      assert.include(yamlError.detail, "invalid YAML")
      const jsonError = yield* loadError(file("bad.json", "{ template: "))
      assert.strictEqual(jsonError.reason, "BadFormat")
      assert.include(jsonError.detail, "invalid JSON")
    })
  )

  it.effect("fails with BadFormat for a non-mapping, a non-string template, another template format", () =>
    Effect.gen(function* () {
      assert.strictEqual((yield* loadError(file("list.yaml", "- a\n- b\n"))).reason, "BadFormat")
      assert.strictEqual((yield* loadError(file("num.json", '{"template": 3}'))).reason, "BadFormat")
      const jinja = yield* loadError(file("jinja.yaml", "template: '{{ x }}'\ntemplate_format: jinja2\n"))
      assert.strictEqual(jinja.reason, "BadFormat")
      assert.include(jinja.detail, "jinja2")
    })
  )

  it.effect("fails with BadFormat for an unsupported extension", () =>
    Effect.gen(function* () {
      const error = yield* loadError(file("prompt.toml", "template = 'x'"))
      assert.strictEqual(error.reason, "BadFormat")
      assert.include(error.detail, "toml")
    })
  )

  it.effect("fails with MissingKey naming the keys looked for and present", () =>
    Effect.gen(function* () {
      const path = file("nokey.yaml", "prompt: hello\nother: 1\n")
      const error = yield* loadError(path)
      assert.strictEqual(error.reason, "MissingKey")
      assert.include(error.detail, '"template" or "system_prompt"')
      assert.include(error.detail, "prompt, other")
      const keyed = yield* loadError(path, { key: "first_user_message" })
      assert.strictEqual(keyed.reason, "MissingKey")
      assert.include(keyed.detail, '"first_user_message"')
    })
  )
})
