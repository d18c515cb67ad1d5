/**
 * Runs the example: `npm run start -w @convo/example-ai-sdk-chat` (builds the page, then serves it
 * on `PORT`, default 3000). Open http://localhost:3000/.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"
import { app, services } from "./App.js"
import { distDir } from "./build.js"

const port = Number(process.env["PORT"] ?? "3000")

HttpServer.serve(app(distDir)).pipe(
  HttpServer.withLogAddress,
  Layer.provide(NodeHttpServer.layer(() => createServer(), { port })),
  Layer.provide(services()),
  Layer.launch,
  NodeRuntime.runMain
)
