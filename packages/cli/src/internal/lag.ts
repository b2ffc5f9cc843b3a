import { EventStore, type Position, type Projection } from "@chronicle/core"
import { Effect, Stream } from "effect"

/** The most events `projections status` counts for a lag; beyond it, the lag shows as "> cap". */
const lagCap = 10_000

/**
 * A projection's lag as `projections status` shows it: the events after
 * `checkpoint` that the projection handles (its types and categories),
 * counted up to {@link lagCap}.
 */
export const lagOf = (projection: Projection.Projection<any, any>, checkpoint: Position.Position) =>
  EventStore.EventStore.use((store) =>
    store
      .readAll({ after: checkpoint, types: projection.types, categories: projection.categories })
      .pipe(Stream.take(lagCap + 1), Stream.runCount)
  ).pipe(Effect.map((lag) => (lag > lagCap ? `> ${lagCap}` : String(lag))))
