/**
 * Checkpoints: the last global position a projection or consumer has fully
 * handled, by name.
 *
 * @since 0.1.0
 */
import { Context, type Effect, Option, Schema } from "effect"
import * as Position from "./Position.ts"
import type { StoreError } from "./StoreError.ts"

/**
 * A checkpoint was not where the writer expected it: another process moved
 * it (two projectors ran the same projection). The writer's batch must not
 * commit; it should reload the checkpoint and carry on from there.
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckpointConflict extends Schema.TaggedError<CheckpointConflict>()("CheckpointConflict", {
  name: Schema.String,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message() {
    return (
      `Checkpoint ${this.name} is at ${this.actual}, not ${this.expected}: another process is running this ` +
      `projection. The batch was not committed.`
    )
  }
}

/**
 * Formats an optional position for {@link CheckpointConflict}.
 *
 * @since 0.1.0
 * @category utils
 */
export const formatOption = (position: Option.Option<Position.Position>): string =>
  Option.match(position, { onNone: () => "none", onSome: Position.format })

/**
 * The checkpoint store service.
 *
 * @since 0.1.0
 * @category services
 */
export class CheckpointStore extends Context.Service<
  CheckpointStore,
  {
    /** The checkpoint saved under `name`, if any. */
    readonly load: (name: string) => Effect.Effect<Option.Option<Position.Position>, StoreError>
    /**
     * Saves the checkpoint of `name`, replacing the previous one. With
     * `expected`, only if the stored checkpoint is exactly that (`None`: no
     * checkpoint yet), else {@link CheckpointConflict}: the fence that keeps
     * two processes from both committing a batch.
     */
    readonly save: (
      name: string,
      position: Position.Position,
      expected?: Option.Option<Position.Position>
    ) => Effect.Effect<void, StoreError | CheckpointConflict>
    /** Every saved checkpoint, by name. */
    readonly list: Effect.Effect<ReadonlyMap<string, Position.Position>, StoreError>
    readonly delete: (name: string) => Effect.Effect<void, StoreError>
  }
>()("@chronicle/core/CheckpointStore") {}
