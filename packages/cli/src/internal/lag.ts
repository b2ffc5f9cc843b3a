import { EventStore, type Position, Projection } from "@chronicle/core"
import { Effect, Stream } from "effect"

/** The most events `projections status` counts for a lag; beyond it, the lag shows as "> cap". */
const lagCap = 10_000

/**
 * A projection's lag as `projections status` shows it: the events after
 * `checkpoint` that the projection (or the partition selected) handles (its
 * types, categories and, for a partition, streams), counted up to {@link lagCap}.
 */
export const lagOf = (projection: Projection.Projection<any, any>, checkpoint: Position.Position) =>
  EventStore.EventStore.use((store) =>
    store
      .readAll({
        after: checkpoint,
        types: projection.types,
        categories: projection.categories,
        partition:
          projection.partition === undefined ? undefined : { index: projection.partition, count: projection.partitions }
      })
      .pipe(
        // A partition counts only its own streams' events (the store reads those; this check is for one that does not).
        Stream.filter((envelope) => Projection.handlesStream(projection, envelope.stream)),
        Stream.take(lagCap + 1),
        Stream.runCount
      )
  ).pipe(Effect.map((lag) => (lag > lagCap ? `> ${lagCap}` : String(lag))))
