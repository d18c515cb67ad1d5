import * as Routes from "@convo/core/Routes"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as fc from "fast-check"

const routes = Routes.make([
  Routes.ws("example-chat", "/ws/example/chat/:conversation_pk/", { params: { conversation_pk: Routes.int } }),
  Routes.ws("room", "/ws/rooms/:room/users/:user/"),
  Routes.ws("lobby", "/ws/lobby"),
  Routes.http("example-room", "/example/chat/:room_pk/"),
  Routes.http("page", "/pages/:slug/", { params: { slug: Routes.slug } })
])

const reverseError = (effect: Effect.Effect<string, Routes.RouteError>) =>
  Effect.gen(function* () {
    const result = yield* Effect.either(effect)
    assert.isTrue(Either.isLeft(result), "expected a RouteError")
    if (Either.isRight(result)) throw new Error("unreachable")
    assert.isTrue(Routes.isRouteError(result.left))
    return result.left
  })

describe("Routes.match", () => {
  it("matches a route and gives its parameters", () => {
    const found = Routes.match(routes, "ws", "/ws/example/chat/100/")
    assert.isTrue(Option.isSome(found))
    const m = Option.getOrThrow(found)
    assert.strictEqual(m.name, "example-chat")
    assert.strictEqual(m.route.pattern, "/ws/example/chat/:conversation_pk/")
    assert.deepStrictEqual(m.params, { conversation_pk: "100" })
    assert.isTrue(m.name === "example-chat")
    if (m.name === "example-chat") {
      // narrowing on the name types the parameters by the pattern
      const pk: string = m.params.conversation_pk
      assert.strictEqual(pk, "100")
    }
  })

  it("gives several parameters", () => {
    const m = Option.getOrThrow(Routes.match(routes, "ws", "/ws/rooms/r1/users/u2/"))
    assert.strictEqual(m.route.name, "room")
    assert.deepStrictEqual(m.params, { room: "r1", user: "u2" })
  })

  it("URL-decodes parameters", () => {
    const m = Option.getOrThrow(Routes.match(routes, "ws", "/ws/rooms/a%2Fb%20c/users/%ED%95%9C%EA%B5%AD%EC%96%B4/"))
    assert.deepStrictEqual(m.params, { room: "a/b c", user: "한국어" })
  })

  it("matches only routes of the asked kind", () => {
    assert.isTrue(Option.isNone(Routes.match(routes, "http", "/ws/example/chat/100/")))
    assert.isTrue(Option.isNone(Routes.match(routes, "ws", "/example/chat/7/")))
    assert.strictEqual(Option.getOrThrow(Routes.match(routes, "http", "/example/chat/7/")).route.name, "example-room")
  })

  it("does not match other paths", () => {
    for (const path of [
      "/ws/example/chat/",
      "/ws/example/chat//",
      "/ws/example/chat/100/extra/",
      "/ws/example/chat/100/extra",
      "/ws/example/chatx/100/",
      "ws/example/chat/100/",
      "",
      "/",
      "/WS/example/chat/100/"
    ]) {
      assert.isTrue(Option.isNone(Routes.match(routes, "ws", path)), path)
    }
  })

  it("handles the trailing slash exactly as the pattern says", () => {
    assert.isTrue(Option.isNone(Routes.match(routes, "ws", "/ws/example/chat/100")))
    assert.isTrue(Option.isSome(Routes.match(routes, "ws", "/ws/lobby")))
    assert.isTrue(Option.isNone(Routes.match(routes, "ws", "/ws/lobby/")))
  })

  it("applies converters: a rejected value is no match", () => {
    assert.isTrue(Option.isNone(Routes.match(routes, "ws", "/ws/example/chat/abc/")))
    assert.isTrue(Option.isNone(Routes.match(routes, "ws", "/ws/example/chat/-1/")))
    assert.isTrue(Option.isNone(Routes.match(routes, "http", "/pages/a%20b/")))
    assert.deepStrictEqual(Option.getOrThrow(Routes.match(routes, "http", "/pages/hello-world_1/")).params, {
      slug: "hello-world_1"
    })
  })

  it("treats a malformed escape as no match, not a crash", () => {
    assert.isTrue(Option.isNone(Routes.match(routes, "ws", "/ws/rooms/%E0%A4%A/users/u/")))
    assert.isTrue(Option.isNone(Routes.match(routes, "ws", "/ws/rooms/%/users/u/")))
  })
})

describe("Routes.reverse", () => {
  it.effect("builds the path of a route", () =>
    Effect.gen(function* () {
      assert.strictEqual(
        yield* Routes.reverse(routes, "example-chat", { conversation_pk: 100 }),
        "/ws/example/chat/100/"
      )
      assert.strictEqual(
        yield* Routes.reverse(routes, "example-chat", { conversation_pk: "100" }),
        "/ws/example/chat/100/"
      )
      assert.strictEqual(yield* Routes.reverse(routes, "example-room", { room_pk: 3 }), "/example/chat/3/")
      assert.strictEqual(yield* Routes.reverse(routes, "lobby"), "/ws/lobby")
    })
  )

  it.effect("URL-encodes values", () =>
    Effect.gen(function* () {
      assert.strictEqual(
        yield* Routes.reverse(routes, "room", { room: "a/b?c#d", user: "한국어" }),
        "/ws/rooms/a%2Fb%3Fc%23d/users/%ED%95%9C%EA%B5%AD%EC%96%B4/"
      )
      assert.strictEqual(yield* Routes.reverse(routes, "room", { room: "..", user: "%" }), "/ws/rooms/../users/%25/")
    })
  )

  it.effect("fails with UnknownRoute", () =>
    Effect.gen(function* () {
      const dynamic: Routes.Table = routes
      const error = yield* reverseError(Routes.reverse(dynamic, "nope", {}))
      assert.strictEqual(error.reason, "UnknownRoute")
      assert.strictEqual(error.route, "nope")
      assert.strictEqual(error._tag, "RouteError")
    })
  )

  it.effect("fails with MissingParam", () =>
    Effect.gen(function* () {
      // @ts-expect-error the parameter is required by the pattern's type
      const error = yield* reverseError(Routes.reverse(routes, "example-chat", {}))
      assert.strictEqual(error.reason, "MissingParam")
      assert.strictEqual(error.param, "conversation_pk")
      const dynamic: Routes.Table = routes
      const error2 = yield* reverseError(Routes.reverse(dynamic, "room", { room: "x" }))
      assert.strictEqual(error2.reason, "MissingParam")
      assert.strictEqual(error2.param, "user")
    })
  )

  it.effect("fails with ExtraParam", () =>
    Effect.gen(function* () {
      // @ts-expect-error the pattern has no such parameter
      const error = yield* reverseError(Routes.reverse(routes, "example-room", { room_pk: 1, pk: 2 }))
      assert.strictEqual(error.reason, "ExtraParam")
      assert.strictEqual(error.param, "pk")
    })
  )

  it.effect("fails with InvalidParam", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<[string, Routes.ParamValue]> = [
        ["example-chat", "abc"],
        ["example-chat", -1],
        ["example-chat", 1.5],
        ["example-chat", Number.NaN],
        ["example-chat", Number.POSITIVE_INFINITY],
        ["example-room", ""],
        ["example-room", "\uD800"]
      ]
      const dynamic: Routes.Table = routes
      for (const [name, value] of cases) {
        const param = name === "example-chat" ? "conversation_pk" : "room_pk"
        const error = yield* reverseError(Routes.reverse(dynamic, name, { [param]: value }))
        assert.strictEqual(error.reason, "InvalidParam", `${name} ${String(value)}`)
        assert.strictEqual(error.param, param)
      }
      const error = yield* reverseError(
        Routes.reverse(dynamic, "example-room", { room_pk: null as unknown as Routes.ParamValue })
      )
      assert.strictEqual(error.reason, "InvalidParam")
    })
  )

  it("reverseUnsafe gives a string or throws the RouteError", () => {
    assert.strictEqual(Routes.reverseUnsafe(routes, "example-chat", { conversation_pk: 7 }), "/ws/example/chat/7/")
    try {
      Routes.reverseUnsafe(routes, "example-chat", { conversation_pk: "x" })
      assert.fail("expected a throw")
    } catch (e) {
      assert.isTrue(Routes.isRouteError(e))
      assert.strictEqual((e as Routes.RouteError).reason, "InvalidParam")
    }
  })

  it("type-checks names and parameters", () => {
    // @ts-expect-error unknown route name
    assert.throws(() => Routes.reverseUnsafe(routes, "missing", {}))
    // @ts-expect-error a route with parameters needs them
    assert.throws(() => Routes.reverseUnsafe(routes, "room"))
    const params: Routes.PathParams<"/ws/chat/:conversation_pk/"> = { conversation_pk: "1" }
    assert.strictEqual(params.conversation_pk, "1")
  })
})

describe("Routes.make", () => {
  const makeError = (f: () => unknown): Routes.RouteError => {
    try {
      f()
    } catch (e) {
      assert.isTrue(Routes.isRouteError(e))
      return e as Routes.RouteError
    }
    throw new Error("expected make to throw")
  }

  it("rejects duplicate names", () => {
    const error = makeError(() => Routes.make([Routes.ws("a", "/ws/a/"), Routes.http("a", "/a/")]))
    assert.strictEqual(error.reason, "DuplicateRoute")
    assert.strictEqual(error.route, "a")
  })

  it("rejects malformed patterns", () => {
    for (const pattern of ["ws/a/", "/ws//a/", "/ws/:/", "/ws/:a/:a/", "/ws/:1x/", "/ws/a?b", "/ws/a#b"]) {
      const error = makeError(() => Routes.make([Routes.ws("a", pattern)]))
      assert.strictEqual(error.reason, "InvalidPattern", pattern)
    }
    const error = makeError(() =>
      Routes.make([
        Routes.ws("a", "/ws/:pk/", { params: { other: Routes.int } as Routes.RouteOptions<string>["params"] })
      ])
    )
    assert.strictEqual(error.reason, "InvalidPattern")
    assert.strictEqual(error.param, "other")
  })

  it("tries routes in order", () => {
    const table = Routes.make([Routes.http("first", "/x/:a/"), Routes.http("second", "/x/:b/")])
    assert.strictEqual(Option.getOrThrow(Routes.match(table, "http", "/x/1/")).route.name, "first")
    assert.strictEqual(Option.getOrThrow(Routes.get(table, "second")).pattern, "/x/:b/")
    assert.isTrue(Option.isNone(Routes.get(table, "third")))
  })
})

describe("Routes round trip", () => {
  const table = Routes.make([Routes.ws("two", "/ws/:a/x/:b/"), Routes.http("one", "/h/:a")])

  it("match(reverse(x)) gives back x for any well-formed strings", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", minLength: 1 }),
        fc.string({ unit: "grapheme", minLength: 1 }),
        (a, b) => {
          const path = Routes.reverseUnsafe(table, "two", { a, b })
          const m = Option.getOrThrow(Routes.match(table, "ws", path))
          assert.strictEqual(m.route.name, "two")
          assert.deepStrictEqual(m.params, { a, b })
          const single = Routes.reverseUnsafe(table, "one", { a })
          assert.deepStrictEqual(Option.getOrThrow(Routes.match(table, "http", single)).params, { a })
        }
      ),
      { numRuns: 500 }
    )
  })

  it("any UTF-16 string either round-trips or gives InvalidParam, never a crash", () => {
    const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n))
    fc.assert(
      fc.property(fc.string({ unit: codeUnit }), (a) => {
        const result = Effect.runSync(Effect.either(Routes.reverse(table, "one", { a })))
        if (Either.isLeft(result)) {
          assert.strictEqual(result.left.reason, "InvalidParam")
        } else {
          assert.deepStrictEqual(Option.getOrThrow(Routes.match(table, "http", result.right)).params, { a })
        }
      }),
      { numRuns: 500 }
    )
  })
})

describe("Routes: conversation ids", () => {
  it("publicId takes public ids only; conversation takes either", () => {
    const table = Routes.make([
      Routes.ws("thread", "/ws/threads/:id/", { params: { id: Routes.publicId } }),
      Routes.http("room", "/rooms/:id/", { params: { id: Routes.conversation } })
    ])
    const thread = Option.getOrThrow(Routes.match(table, "ws", "/ws/threads/0191f7a2-9c1e-7b3d-8a4f-2c5e6d7f8a9b/"))
    assert.strictEqual(thread.params.id, "0191f7a2-9c1e-7b3d-8a4f-2c5e6d7f8a9b")
    assert.isTrue(Option.isNone(Routes.match(table, "ws", "/ws/threads/42/")))
    assert.strictEqual(Routes.reverseUnsafe(table, "thread", { id: "a b/c" }), "/ws/threads/a%20b%2Fc/")
    assert.throws(() => Routes.reverseUnsafe(table, "thread", { id: 42 }))
    assert.strictEqual(Option.getOrThrow(Routes.match(table, "http", "/rooms/42/")).params.id, "42")
    assert.strictEqual(Option.getOrThrow(Routes.match(table, "http", "/rooms/thread-1/")).params.id, "thread-1")
    assert.isTrue(Option.isNone(Routes.match(table, "http", "/rooms/042/")))
  })
})
