/**
 * @since 0.1.0
 */
export * as PgEventStore from "./PgEventStore.ts"
export * as PgSchema from "./PgSchema.ts"
export * as PgStore from "./PgStore.ts"
export * as PgStores from "./PgStores.ts"
