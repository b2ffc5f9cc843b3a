/**
 * @since 0.1.0
 */
export * as DatabaseUrl from "./DatabaseUrl.ts"
export * as PgServer from "./PgServer.ts"
