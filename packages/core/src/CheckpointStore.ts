/**
 * Checkpoints: the last global position a projection or consumer has fully
 * handled, by name.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option } from "effect"
import type { Position } from "./Position.ts"
import type { StoreError } from "./StoreError.ts"

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
    readonly load: (name: string) => Effect.Effect<Option.Option<Position>, StoreError>
    /** Saves the checkpoint of `name`, replacing the previous one. */
    readonly save: (name: string, position: Position) => Effect.Effect<void, StoreError>
    /** Every saved checkpoint, by name. */
    readonly list: Effect.Effect<ReadonlyMap<string, Position>, StoreError>
    readonly delete: (name: string) => Effect.Effect<void, StoreError>
  }
>()("@chronicle/core/CheckpointStore") {
  /**
   * Checkpoints in memory.
   *
   * @since 0.1.0
   */
  static readonly layerMemory = Layer.sync(CheckpointStore, () => {
    const checkpoints = new Map<string, Position>()
    return CheckpointStore.of({
      load: (name) => Effect.sync(() => Option.fromUndefinedOr(checkpoints.get(name))),
      save: (name, position) => Effect.sync(() => void checkpoints.set(name, position)),
      list: Effect.sync(() => new Map(checkpoints)),
      delete: (name) => Effect.sync(() => void checkpoints.delete(name))
    })
  })
}
