/**
 * Kernel benchmarks on the in-memory store:
 * - events folded per second through decode (with upcasting) + evolve, for a
 *   1 000 000-event stream, against a baseline that folds the same stored
 *   payloads in a plain loop with no decoding;
 * - loading a 10 000-event aggregate with and without a snapshot.
 */
import { CommandHandler, Decider, EventStore, ExpectedVersion, SnapshotStore, StreamName } from "@chronicle/core"
import { Order } from "@chronicle/example"
import { Effect, Layer, Schema, Stream } from "effect"
import { type Figure, measure, report } from "./report.ts"

const total = Number(process.env.BENCH_KERNEL_EVENTS ?? 1_000_000)
const aggregateEvents = 10_000

interface Tally {
  readonly placed: number
  readonly paid: number
  readonly amount: number
}

/** Folds every order event type; only `evolve` is exercised here. */
const tally = Decider.make<never, Order.OrderEvent, Tally, never>({
  initialState: { placed: 0, paid: 0, amount: 0 },
  decide: (command) => command,
  evolve: (s, e) =>
    e._tag === "OrderPlaced"
      ? { ...s, placed: s.placed + e.items.length }
      : e._tag === "PaymentConfirmed"
        ? { ...s, paid: s.paid + 1, amount: s.amount + e.amount }
        : s
})

const eventId = (i: number) => `01900000-0000-7000-8000-${i.toString(16).padStart(12, "0")}`

/** Every tenth event an OrderPlaced stored as v1 (so it is upcast twice), the rest payments. */
const eventAt = (i: number) =>
  i % 10 === 0
    ? {
        eventId: eventId(i),
        type: "OrderPlaced",
        schemaVersion: 1,
        data: { orderId: `o${i}`, customerId: "c", product_ids: ["p1", "p2"] },
        metadata: {}
      }
    : {
        eventId: eventId(i),
        type: "PaymentConfirmed",
        schemaVersion: 1,
        data: { orderId: `o${i}`, paymentReference: `r${i}`, amount: i % 1000 },
        metadata: {}
      }

const fill = Effect.fn("fill")(function* (stream: StreamName.StreamName, from: number, count: number) {
  const store = yield* EventStore.EventStore
  for (let written = 0; written < count; written += 10_000) {
    const events = Array.from({ length: Math.min(10_000, count - written) }, (_, j) => eventAt(from + written + j))
    yield* store.append(stream, events, ExpectedVersion.any)
    if (written % 200_000 === 0) yield* Effect.log(`  writing ${stream}: ${written + events.length}/${count}`)
  }
})

export const run = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  const snapshots = yield* SnapshotStore.SnapshotStore
  const figures: Array<Figure> = []

  yield* Effect.log(`Kernel: folding a ${total}-event stream`)
  const long = StreamName.make("bench", "fold")
  yield* fill(long, 0, total)
  const handler = yield* CommandHandler.make({ decider: tally, codec: Order.OrderEvents })

  const baseline = yield* measure("baseline: read + plain loop over stored JSON", total, 3, () =>
    Effect.map(Stream.runCollect(store.readStream(long)), (envelopes) => {
      let placed = 0,
        paid = 0,
        amount = 0
      for (const { data } of envelopes) {
        const d = data as { product_ids?: ReadonlyArray<string>; amount?: number }
        if (d.product_ids !== undefined) placed += d.product_ids.length
        else {
          paid++
          amount += d.amount!
        }
      }
      return placed + paid + amount
    })
  )
  figures.push(baseline)
  figures.push(yield* measure("chronicle: read + decode/upcast + evolve", total, 3, () => handler.load(long), baseline))

  yield* Effect.log(`Kernel: loading a ${aggregateEvents}-event aggregate`)
  const aggregate = StreamName.make("bench", "aggregate")
  yield* fill(aggregate, total, aggregateEvents)
  const full = yield* measure(`load ${aggregateEvents} events, no snapshot`, aggregateEvents, 20, () =>
    handler.load(aggregate)
  )
  figures.push(full)
  const snapshotting = yield* CommandHandler.make({
    decider: tally,
    codec: Order.OrderEvents,
    snapshot: { schema: Schema.Struct({ placed: Schema.Int, paid: Schema.Int, amount: Schema.Int }), version: 1 }
  })
  const loaded = yield* handler.load(aggregate)
  yield* snapshots.save({
    stream: aggregate,
    streamVersion: loaded.version - 10,
    schemaVersion: 1,
    state: loaded.state
  })
  figures.push(
    yield* measure(
      `load ${aggregateEvents} events, snapshot 10 from the end`,
      aggregateEvents,
      20,
      () => snapshotting.load(aggregate),
      full
    )
  )
  report("Kernel, in-memory store (ratio = speed-up or share of the baseline)", figures)
}).pipe(
  Effect.scoped,
  Effect.provide(Layer.mergeAll(EventStore.EventStore.layerMemory(), SnapshotStore.SnapshotStore.layerMemory))
)
