/**
 * @convo/core — an Effect SDK for LLM chat agents whose conversation history saves itself.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AgentStep from "./AgentStep.js"
/** @since 0.1.0 */
export * as Authenticator from "./Authenticator.js"
/** @since 0.1.0 */
export * as ChatAgent from "./ChatAgent.js"
/** @since 0.1.0 */
export * as ChatAgentHooks from "./ChatAgentHooks.js"
/** @since 0.1.0 */
export * as Connection from "./Connection.js"
/** @since 0.1.0 */
export * as ConversationEvents from "./ConversationEvents.js"
/** @since 0.1.0 */
export * as ConversationStore from "./ConversationStore.js"
/** @since 0.1.0 */
export * as Handshake from "./Handshake.js"
/** @since 0.2.0 */
export * as Import from "./Import.js"
/** @since 0.1.0 */
export * as LlmModels from "./LlmModels.js"
/** @since 0.1.0 */
export * as MessageCodec from "./MessageCodec.js"
/** @since 0.1.0 */
export * as OfflineModel from "./OfflineModel.js"
/** @since 0.1.0 */
export * as Opaque from "./Opaque.js"
/** @since 0.1.0 */
export * as PromptTemplate from "./PromptTemplate.js"
/** @since 0.1.0 */
export * as Protocol from "./Protocol.js"
/** @since 0.1.0 */
export * as Routes from "./Routes.js"
/** @since 0.1.0 */
export * as SqlConversationStore from "./SqlConversationStore.js"
/** @since 0.1.0 */
export * as SqlLog from "./SqlLog.js"
/** @since 0.1.0 */
export * as SqlMigrations from "./SqlMigrations.js"
/** @since 0.1.0 */
export * as Table from "./Table.js"
/** @since 0.1.0 */
export * as TaggedJson from "./TaggedJson.js"
/** @since 0.1.0 */
export * as TurnLock from "./TurnLock.js"
