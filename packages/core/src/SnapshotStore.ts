/**
 * Snapshots: a stream's folded state at a stream version, encoded through a
 * state schema that has its own version. A snapshot only ever saves work; the
 * command handler ignores one whose schema version does not match or that
 * does not decode, and replays the stream instead.
 *
 * @since 0.1.0
 */
import { Context, type DateTime, type Effect, type Option, Schema } from "effect"
import type { StoreError } from "./StoreError.ts"
import type { StreamName } from "./StreamName.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly stream: StreamName
  /** The version of the last event folded into the state. */
  readonly streamVersion: number
  /** The version of the state schema that encoded `state`. */
  readonly schemaVersion: number
  /** The encoded state, a JSON value. */
  readonly state: unknown
  readonly recordedAt: DateTime.Utc
}

/**
 * The snapshot store service: one snapshot per stream, the latest one wins.
 *
 * @since 0.1.0
 * @category services
 */
export class SnapshotStore extends Context.Service<
  SnapshotStore,
  {
    /** Saves a snapshot unless a snapshot at a later stream version is already stored. */
    readonly save: (snapshot: Omit<Snapshot, "recordedAt">) => Effect.Effect<void, StoreError>
    readonly load: (stream: StreamName) => Effect.Effect<Option.Option<Snapshot>, StoreError>
    readonly delete: (stream: StreamName) => Effect.Effect<void, StoreError>
  }
>()("@chronicle/core/SnapshotStore") {}

/**
 * A snapshot was asked for and could not be saved: the command handler has
 * no snapshot policy, no `SnapshotStore` is provided, or the state does not
 * encode (`reason` says which). Nothing was saved; give the handler a
 * `snapshot` policy and provide a store layer.
 *
 * @since 0.1.0
 * @category errors
 */
export class SnapshotUnavailable extends Schema.TaggedError<SnapshotUnavailable>()("SnapshotUnavailable", {
  stream: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Cannot snapshot ${JSON.stringify(this.stream)}: ${this.reason}.`
  }
}
