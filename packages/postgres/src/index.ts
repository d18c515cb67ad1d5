/**
 * @convo/postgres — convo past one machine: any number of server processes on one PostgreSQL,
 * with a cross-process turn lock and live conversation events.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as PgConversationEvents from "./PgConversationEvents.js"
/** @since 0.1.0 */
export * as PgMigrations from "./PgMigrations.js"
/** @since 0.1.0 */
export * as PgTurnLock from "./PgTurnLock.js"
