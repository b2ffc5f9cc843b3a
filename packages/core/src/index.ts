/**
 * @since 0.1.0
 */
export * as CheckpointStore from "./CheckpointStore.ts"
export * as Envelope from "./Envelope.ts"
export * as EventId from "./EventId.ts"
export * as EventStore from "./EventStore.ts"
export * as ExpectedVersion from "./ExpectedVersion.ts"
export * as Position from "./Position.ts"
export * as SnapshotStore from "./SnapshotStore.ts"
export * as StoreError from "./StoreError.ts"
export * as StreamName from "./StreamName.ts"
