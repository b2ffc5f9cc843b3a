/**
 * `pnpm demo`: a short walkthrough of the kernel on the in-memory store. It
 * places, pays and cancels orders, shows a rejected command, loads a legacy
 * v1 event through the upcasters, answers a temporal query and prints the
 * global log.
 */
import { CommandHandler, EventStore, ExpectedVersion, Position, SnapshotStore, StreamName } from "@chronicle/core"
import { Order } from "@chronicle/example"
import { Console, Effect, Layer, Stream } from "effect"

const step = (title: string) => Console.log(`\n▸ ${title}`)

const program = Effect.gen(function* () {
  const orders = yield* CommandHandler.make({ decider: Order.decider, codec: Order.OrderEvents })
  const store = yield* EventStore.EventStore

  yield* step("Place order o-1 (2 × p-1 at 12.50 EUR) and pay it")
  const o1 = StreamName.make("order", "o-1")
  const placed = yield* orders.handle(
    o1,
    Order.PlaceOrder.make({
      orderId: "o-1",
      customerId: "alice",
      items: [{ productId: "p-1", quantity: 2, unitPrice: 1250 }],
      currency: "EUR"
    }),
    { metadata: { correlationId: "demo-1", actor: "alice" } }
  )
  yield* Console.log(`  ${o1} is at version ${placed.version}: ${JSON.stringify(placed.state)}`)
  const paid = yield* orders.handle(o1, Order.ConfirmPayment.make({ paymentReference: "pay-77", amount: 2500 }))
  yield* Console.log(`  paid → version ${paid.version}, status ${paid.state.status}`)

  yield* step("Try to cancel the paid order: the decider rejects it with a typed error")
  const rejected = yield* Effect.flip(orders.handle(o1, Order.CancelOrder.make({ reason: "changed my mind" })))
  yield* Console.log(`  ${rejected._tag}: ${rejected.message}`)

  yield* step("A legacy OrderPlaced stored as schema v1 ({ product_ids }) loads as v3")
  const legacy = StreamName.make("order", "legacy-9")
  yield* store.append(
    legacy,
    [
      {
        eventId: "01890000-0000-7000-8000-000000000009",
        type: "OrderPlaced",
        schemaVersion: 1,
        data: { orderId: "legacy-9", customerId: "bob", product_ids: ["p-7", "p-8"] },
        metadata: {}
      }
    ],
    ExpectedVersion.noStream
  )
  const loaded = yield* orders.load(legacy)
  yield* Console.log(`  stored v1, loaded state: ${JSON.stringify(loaded.state)} (currency defaulted to USD)`)
  const cancelled = yield* orders.handle(legacy, Order.CancelOrder.make({ reason: "out of stock" }))
  yield* Console.log(`  cancelled → version ${cancelled.version}, status ${cancelled.state.status}`)

  yield* step("Temporal query: o-1 as of version 0")
  const asOf = yield* orders.loadAsOf(o1, { version: 0 })
  yield* Console.log(`  status then: ${asOf.state.status}`)

  yield* step("The global log")
  yield* store
    .readAll()
    .pipe(
      Stream.runForEach((e) =>
        Console.log(
          `  ${Position.format(e.position).padEnd(6)} ${e.stream.padEnd(16)} v${e.streamVersion} ${e.type} (schema v${e.schemaVersion})`
        )
      )
    )
  yield* Console.log("\nDone.")
})

Effect.runPromise(
  program.pipe(
    Effect.scoped,
    Effect.provide(Layer.mergeAll(EventStore.EventStore.layerMemory(), SnapshotStore.SnapshotStore.layerMemory))
  )
).catch((error) => {
  console.error(error)
  process.exit(1)
})
