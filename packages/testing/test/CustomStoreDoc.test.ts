// The custom store of docs/guides/custom-store.md passes the conformance suite, as the guide says.
import { storeConformance } from "@convo/testing/StoreConformance"
import { AuditedStore } from "../../../docs/snippets/storage.js"

// #region run-suite
storeConformance(
  "audited store (docs/guides/custom-store.md)",
  AuditedStore(() => {})
)
// #endregion run-suite
