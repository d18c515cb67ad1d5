// The conformance suite of the installed @convo/testing, run by vitest against the custom store.
import { storeConformance } from "@convo/testing/StoreConformance"
import { afterAll, expect } from "vitest"
import * as CountingStore from "./CountingStore.js"

const counts: CountingStore.Counts = { appends: 0, clears: 0, deletes: 0 }

storeConformance("counting store over SQLite (installed packages)", CountingStore.layer(counts))

// the suite went through the custom store, not around it
afterAll(() => {
  expect(counts.appends).toBeGreaterThan(10)
  expect(counts.clears + counts.deletes).toBeGreaterThan(0)
})
