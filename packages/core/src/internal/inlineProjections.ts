import { DateTime, Effect } from "effect"
import type { Decoded, EventData } from "../Envelope.ts"
import type { AppendResult } from "../EventStore.ts"
import * as Projection from "../Projection.ts"
import * as StreamName from "../StreamName.ts"

/** An inline projection failed: its checkpoint name and what it failed with. */
export interface Failure {
  readonly projection: string
  readonly cause: unknown
}

/**
 * Runs inline projections on a command's appended events, as the envelopes a
 * projector would deliver, each projection on the events it handles.
 */
export const run = <Event extends { readonly _tag: string }, R>(
  projections: ReadonlyArray<Projection.Projection<Event, R>>,
  stream: StreamName.StreamName,
  events: ReadonlyArray<Event>,
  data: ReadonlyArray<EventData>,
  appended: AppendResult
): Effect.Effect<void, Failure, R> =>
  Effect.flatMap(DateTime.now, (recordedAt) => {
    const first = appended.streamVersion - events.length + 1
    const decoded = events.map(
      (event, i): Decoded<Event> => ({
        eventId: data[i]!.eventId,
        type: data[i]!.type,
        schemaVersion: data[i]!.schemaVersion,
        metadata: data[i]!.metadata,
        stream,
        streamVersion: first + i,
        position: appended.positions[i]!,
        recordedAt,
        event
      })
    )
    const category = StreamName.category(stream)
    return Effect.forEach(
      projections,
      (projection) => {
        const handled = decoded.filter(
          (e) =>
            projection.types.includes(e.type) &&
            (projection.categories === undefined || projection.categories.includes(category))
        )
        return handled.length === 0
          ? Effect.void
          : Effect.mapError(
              projection.handleBatch(handled),
              (cause): Failure => ({ projection: Projection.checkpointName(projection), cause })
            )
      },
      { discard: true }
    )
  })
