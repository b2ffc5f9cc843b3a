/**
 * Kernel benchmarks on the in-memory store:
 * - events folded per second through decode (with upcasting) + evolve, for a
 *   1 000 000-event stream, against a baseline that folds the same stored
 *   payloads in a plain loop with no decoding;
 * - loading a 10 000-event aggregate from a snapshot 10 events from its end,
 *   against loading a 10-event stream with no snapshot (the target: a load is
 *   bounded by the events after the snapshot), with the full replay for context;
 * - appending and loading events with personal fields against the same events
 *   without (see personal.ts).
 */
import {
  CommandHandler,
  Decider,
  EventId,
  EventStore,
  ExpectedVersion,
  MemoryStore,
  SnapshotStore,
  StreamName
} from "@chronicle/core"
import { Order } from "@chronicle/example"
import { Console, Effect, Schema, Stream } from "effect"
import * as Personal from "./personal.ts"
import { type Comparison, compare, report, time } from "./report.ts"

const total = Number(process.env.BENCH_KERNEL_EVENTS ?? 1_000_000)
const aggregateEvents = 10_000
const afterSnapshot = 10

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
const eventAt = (i: number, id = eventId(i)) =>
  i % 10 === 0
    ? {
        eventId: id,
        type: "OrderPlaced",
        schemaVersion: 1,
        data: { orderId: `o${i}`, customerId: "c", product_ids: ["p1", "p2"] },
        metadata: {}
      }
    : {
        eventId: id,
        type: "PaymentConfirmed",
        schemaVersion: 1,
        data: { orderId: `o${i}`, paymentReference: `r${i}`, amount: i % 1000 },
        metadata: {}
      }

/** Appends events `from` … `from + count - 1`, with ids from their index, or from the stream and index when `keyed`. */
const fill = Effect.fn("fill")(function* (stream: StreamName.StreamName, from: number, count: number, keyed = false) {
  const store = yield* EventStore.EventStore
  for (let written = 0; written < count; written += 10_000) {
    const events = yield* Effect.forEach(
      Array.from({ length: Math.min(10_000, count - written) }, (_, j) => from + written + j),
      (i) =>
        keyed ? Effect.map(EventId.fromKey(`${stream}/${i}`), (id) => eventAt(i, id)) : Effect.succeed(eventAt(i))
    )
    yield* store.append(stream, events, ExpectedVersion.any)
    if (written % 200_000 === 0) yield* Effect.log(`  writing ${stream}: ${written + events.length}/${count}`)
  }
})

/**
 * The snapshot target: loading a long aggregate from a snapshot costs what its events after the
 * snapshot cost, not the stream's length. So the baseline is a stream of just those 10 events (the
 * same mix of types), loaded by the same handler (it finds no snapshot); the full replay is shown
 * for context. Runs on the stores in context; `category` names the streams. Each round loads
 * `loads` times from the snapshot or the short stream, and replays the whole stream `replays` times.
 */
export const aggregateLoad = (category: string, rounds: { readonly loads: number; readonly replays: number }) =>
  Effect.gen(function* () {
    const snapshots = yield* SnapshotStore.SnapshotStore
    const aggregate = StreamName.make(category, "aggregate")
    const short = StreamName.make(category, "short")
    yield* Console.log(`\nLoading a ${aggregateEvents}-event aggregate (${aggregate})`)
    const replaying = yield* CommandHandler.make({ decider: tally, codec: Order.OrderEvents })
    const snapshotting = yield* CommandHandler.make({
      decider: tally,
      codec: Order.OrderEvents,
      snapshot: { schema: Schema.Struct({ placed: Schema.Int, paid: Schema.Int, amount: Schema.Int }), version: 1 }
    })
    // The snapshot is of the stream's state when it had all but its last 10 events.
    yield* fill(aggregate, 0, aggregateEvents - afterSnapshot, true)
    const atSnapshot = yield* replaying.load(aggregate)
    yield* snapshots.save({
      stream: aggregate,
      streamVersion: atSnapshot.version,
      schemaVersion: 1,
      state: atSnapshot.state
    })
    yield* fill(aggregate, aggregateEvents - afterSnapshot, afterSnapshot, true)
    yield* fill(short, aggregateEvents, afterSnapshot, true)
    const [replayed, fromSnapshot] = yield* Effect.all([replaying.load(aggregate), snapshotting.load(aggregate)])
    if (JSON.stringify(replayed) !== JSON.stringify(fromSnapshot)) {
      return yield* Effect.die(new Error("Loading from the snapshot does not reach the replayed state"))
    }
    const repeat = <E, R>(n: number, load: Effect.Effect<unknown, E, R>) =>
      time(Effect.forEach(Array.from({ length: n }), () => load, { discard: true }))
    return yield* compare({
      workload: `load a ${aggregateEvents.toLocaleString("en-US")}-event aggregate from a snapshot ${afterSnapshot} events from the end`,
      count: rounds.loads,
      unit: "loads",
      baseline: {
        name: `a ${afterSnapshot}-event stream, no snapshot`,
        run: () => repeat(rounds.loads, snapshotting.load(short))
      },
      subject: {
        name: `snapshot + the last ${afterSnapshot} events`,
        run: () => repeat(rounds.loads, snapshotting.load(aggregate))
      },
      context: [
        {
          name: "full replay, no snapshot",
          count: rounds.replays,
          run: () => repeat(rounds.replays, replaying.load(aggregate))
        }
      ]
    })
  })

export const run = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  const handler = yield* CommandHandler.make({ decider: tally, codec: Order.OrderEvents })
  const comparisons: Array<Comparison> = []

  yield* Console.log(`\nKernel: folding a ${total}-event stream`)
  const long = StreamName.make("bench", "fold")
  yield* fill(long, 0, total)
  comparisons.push(
    yield* compare({
      workload: `fold a ${total.toLocaleString("en-US")}-event stream`,
      count: total,
      baseline: {
        name: "read + plain loop over the stored JSON",
        run: () =>
          time(
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
      },
      subject: { name: "read + decode/upcast + evolve", run: () => time(handler.load(long)) }
    })
  )

  comparisons.push(yield* aggregateLoad("bench", { loads: 10_000, replays: 25 }))
  comparisons.push(...(yield* Personal.comparisons))
  report("Kernel, in-memory store", comparisons)
}).pipe(Effect.scoped, Effect.provide(MemoryStore.layer()))
