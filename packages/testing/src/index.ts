/**
 * @convo/testing — fakes and suites for testing convo apps and custom stores: the store
 * conformance suite, test databases, a scripted chat model, a fake OpenAI-compatible server.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Databases from "./Databases.js"
/** @since 0.1.0 */
export * as FakeOpenAI from "./FakeOpenAI.js"
/** @since 0.1.0 */
export * as ScriptedChatModel from "./ScriptedChatModel.js"
/** @since 0.1.0 */
export * as ScriptedReply from "./ScriptedReply.js"
/** @since 0.1.0 */
export * as SessionProbe from "./SessionProbe.js"
/** @since 0.1.0 */
export * as StoreConformance from "./StoreConformance.js"
