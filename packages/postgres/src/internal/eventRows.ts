/**
 * Events as the PostgreSQL event store reads them.
 */
import { type Envelope, Position, type StreamName } from "@chronicle/core"
import { DateTime } from "effect"

/** A row of `<schema>.events` as the store selects it. */
export interface EventRow {
  readonly commit: string
  readonly sequence: bigint | string
  readonly event_id: string
  readonly stream: string
  readonly stream_version: number
  readonly type: string
  readonly schema_version: number
  readonly data: unknown
  readonly metadata: unknown
  readonly recorded_at: Date
}

/** The columns of an {@link EventRow}. */
export const columns =
  "transaction_id::text AS commit, sequence, event_id, stream, stream_version, type, schema_version, data, metadata, recorded_at"

/** The stored columns an {@link EventRow} is selected from. */
export const storedColumns =
  "transaction_id, sequence, event_id, stream, stream_version, type, schema_version, data, metadata, recorded_at"

/** The envelope of a row. */
export const toEnvelope = (row: EventRow): Envelope.Envelope => ({
  eventId: row.event_id,
  stream: row.stream as StreamName.StreamName,
  streamVersion: row.stream_version,
  position: Position.make(BigInt(row.commit), BigInt(row.sequence)),
  type: row.type,
  schemaVersion: row.schema_version,
  data: row.data,
  metadata: row.metadata as Envelope.Metadata,
  recordedAt: DateTime.fromDateUnsafe(row.recorded_at)
})
