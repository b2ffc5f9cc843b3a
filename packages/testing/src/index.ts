/**
 * @since 0.1.0
 */
export * as PgHarness from "./PgHarness.ts"
export * as PgServer from "./PgServer.ts"
export * as StoreConformance from "./StoreConformance.ts"
