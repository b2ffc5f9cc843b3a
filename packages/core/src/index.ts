/**
 * @since 0.1.0
 */
export * as CheckpointStore from "./CheckpointStore.ts"
export * as CommandHandler from "./CommandHandler.ts"
export * as DeadLetterStore from "./DeadLetterStore.ts"
export * as Decider from "./Decider.ts"
export * as Envelope from "./Envelope.ts"
export * as EventCodec from "./EventCodec.ts"
export * as EventId from "./EventId.ts"
export * as EventStore from "./EventStore.ts"
export * as EventType from "./EventType.ts"
export * as ExpectedVersion from "./ExpectedVersion.ts"
export * as Position from "./Position.ts"
export * as Projection from "./Projection.ts"
export * as Projector from "./Projector.ts"
export * as SnapshotStore from "./SnapshotStore.ts"
export * as StoreError from "./StoreError.ts"
export * as StreamName from "./StreamName.ts"
