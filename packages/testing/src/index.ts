/**
 * @since 0.1.0
 */
export * as DeciderLaws from "./DeciderLaws.ts"
export * as DeciderSpec from "./DeciderSpec.ts"
export * as PgHarness from "./PgHarness.ts"
export * as ProjectionSpec from "./ProjectionSpec.ts"
export * as StoreConformance from "./StoreConformance.ts"
export * as Upcasting from "./Upcasting.ts"
