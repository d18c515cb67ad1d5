import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const packages = fileURLToPath(new URL("./packages/", import.meta.url))

export default defineConfig({
  resolve: {
    // tests run the sources: @convo/* resolves to packages/*/src, as tsconfig.json's `paths` does
    // for tsc and tsx (the published exports point at dist/, which the tests never need)
    alias: [
      {
        find: /^@convo\/(core|adapter-ws|adapter-http|postgres|testing)$/,
        replacement: `${packages}$1/src/index.ts`
      },
      {
        find: /^@convo\/(core|adapter-ws|adapter-http|postgres|testing)\/(.+)$/,
        replacement: `${packages}$1/src/$2.ts`
      }
    ]
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: true,
    pool: "forks",
    // the JSON report lets .ci/run print a plain "N passed, N failed" closing line
    reporters: ["default", "json"],
    outputFile: { json: ".vitest-tmp/results.json" }
  }
})
