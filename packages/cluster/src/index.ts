/**
 * @since 0.1.0
 */
export * as MessageRetention from "./MessageRetention.ts"

/**
 * @since 0.1.0
 */
export * as PartitionedProjection from "./PartitionedProjection.ts"

/**
 * @since 0.1.0
 */
export * as StreamEntity from "./StreamEntity.ts"
