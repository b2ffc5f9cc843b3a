/**
 * @since 0.1.0
 */
export * as PgCheckpointStore from "./PgCheckpointStore.ts"
export * as PgDeadLetterStore from "./PgDeadLetterStore.ts"
export * as PgEventImport from "./PgEventImport.ts"
export * as PgEventStore from "./PgEventStore.ts"
export * as PgKeyStore from "./PgKeyStore.ts"
export * as PgIntegrity from "./PgIntegrity.ts"
export * as PgLease from "./PgLease.ts"
export * as PgSchema from "./PgSchema.ts"
export * as PgSnapshotStore from "./PgSnapshotStore.ts"
export * as PgStore from "./PgStore.ts"
export * as PgStreamLifecycle from "./PgStreamLifecycle.ts"
export * as PgUnitOfWork from "./PgUnitOfWork.ts"
