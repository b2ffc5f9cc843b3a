import { type Envelope, type EventCodec, type Lease, Position, type Projector } from "@chronicle/core"
import { DateTime, Duration, Option, Result } from "effect"
import { CliOutput } from "effect/cli"

/** A value as one line of JSON: bigints as digits, times as ISO 8601. */
export const json = (value: unknown) =>
  JSON.stringify(value, (_, v) =>
    typeof v === "bigint" ? v.toString() : DateTime.isDateTime(v) ? DateTime.formatIso(v) : v
  )

/** Rows as columns, each padded to its widest cell; the first row is the header. */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths: Array<number> = []
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, CliOutput.displayWidth(cell))
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat(widths[i]! - CliOutput.displayWidth(cell))))
        .join("  ")
        .trimEnd()
    )
    .join("\n")
}

/** A message on one line: its lines become sentences. */
export const oneLine = (text: string) =>
  text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line, i, lines) => (i < lines.length - 1 && !/[.:;!?]$/.test(line) ? `${line}.` : line))
    .join(" ")

/**
 * A stored event's row in `events`: version, position, time, type and the
 * event decoded by `codec` (upcast to the current version), or why it did not
 * decode.
 */
export const eventRow = (codec: EventCodec.EventCodec<any>, envelope: Envelope.Envelope) => {
  const decoded = codec.decodeEnvelope(envelope)
  return [
    `v${envelope.streamVersion}`,
    Position.format(envelope.position),
    DateTime.formatIso(envelope.recordedAt),
    `${envelope.type}@${envelope.schemaVersion}`,
    Result.isSuccess(decoded) ? json(decoded.success.event) : `!! ${oneLine(decoded.failure.message)}`
  ]
}

/** Which event a dead letter is: its id, stream and version, and type. */
export const envelopeCells = (envelope: Envelope.Envelope) => [
  envelope.eventId,
  `${envelope.stream} v${envelope.streamVersion}`,
  envelope.type
]

/** A projection's checkpoint, or "none" before its first save. */
export const checkpoint = (saved: Option.Option<Position.Position>) =>
  Option.match(saved, { onNone: () => "none", onSome: Position.format })

/** Who holds a projection's lease, and where its session runs when the store knows. */
export const holder = (held: Option.Option<Lease.Holder>) =>
  Option.match(held, {
    onNone: () => "nobody",
    onSome: (h) => (h.session === undefined ? h.label : `${h.label} (${h.session})`)
  })

const bar = (done: number, total: number, width = 30) => {
  const ratio = total === 0 ? 1 : Math.min(1, done / total)
  const filled = Math.round(ratio * width)
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)} %`
}

/** A rebuild's progress as one line: a bar, events done of total, throughput and time left. */
export const progress = (p: Projector.Progress) =>
  `${bar(p.done, p.total)}  ${p.done}/${p.total} events  ${Math.round(p.eventsPerSecond)} events/s  ` +
  `ETA ${Duration.format(Duration.seconds(Math.ceil(Duration.toSeconds(p.eta))))}`

/**
 * A rebuild's progress over a projection's partitions: {@link progress} of
 * their sum, then each partition's events done of total (a projection without
 * partitions shows as {@link progress}).
 */
export const partitionsProgress = (p: Projector.PartitionsProgress) =>
  p.partitions.length === 1
    ? progress(p)
    : `${progress(p)}  (${p.partitions.map((q, i) => `p${i} ${q.done}/${q.total}`).join(", ")})`

/** Where a rebuild stopped: the position reached, or each partition's. */
export const reached = (positions: ReadonlyArray<Position.Position>) =>
  positions.length === 1
    ? Position.format(positions[0]!)
    : positions.map((position, i) => `p${i} ${Position.format(position)}`).join(", ")
