/**
 * The cost of personal fields, on the in-memory store: customer events with
 * two personal fields (name and e-mail, sealed with XChaCha20-Poly1305 under
 * the customer's key from an in-memory `KeyStore`) against the same events
 * declared without personal fields.
 * - append: encode (and seal) + append, 100 events per append;
 * - load: read + open + decode + fold of one customer's 10 000-event stream.
 */
import {
  CommandHandler,
  EventCodec,
  EventStore,
  EventType,
  ExpectedVersion,
  KeyStore,
  StreamName
} from "@chronicle/core"
import { Customer } from "@chronicle/example"
import { Effect } from "effect"
import { compare, time } from "./report.ts"

const events = 10_000
const perAppend = 100

/** The customer events as declared without personal fields. */
const PlainEvents = EventCodec.make(
  EventType.make("CustomerRegistered", Customer.CustomerRegistered.data.fields),
  EventType.make("EmailChanged", Customer.EmailChanged.data.fields)
) as unknown as typeof Customer.CustomerEvents

/** A customer registered, then changing e-mail: `events` events on one stream. */
const history: ReadonlyArray<Customer.CustomerEvent> = Array.from({ length: events }, (_, i) =>
  i === 0
    ? Customer.CustomerRegistered.make({ customerId: "c", name: "Ada Lovelace", email: "ada@example.com" })
    : Customer.EmailChanged.make({ customerId: "c", email: `ada+${i}@example.com` })
)

const append = (codec: typeof Customer.CustomerEvents, stream: StreamName.StreamName) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    for (let i = 0; i < events; i += perAppend) {
      const data = yield* codec.toEventData(history.slice(i, i + perAppend))
      yield* store.append(stream, data, ExpectedVersion.any)
    }
  })

/** Appending and loading customer events, with and without personal fields, keys in memory. */
export const comparisons = Effect.gen(function* () {
  const handler = (codec: typeof Customer.CustomerEvents) => CommandHandler.make({ decider: Customer.decider, codec })
  const [personal, plain] = [yield* handler(Customer.CustomerEvents), yield* handler(PlainEvents)]
  const stream = (kind: string, round: number) => StreamName.make("personal", `${kind}${round}`)
  const appended = yield* compare({
    workload: `encode + append ${events.toLocaleString("en-US")} customer events, ${perAppend} per append`,
    count: events,
    baseline: { name: "no personal fields", run: (round) => time(append(PlainEvents, stream("plain", round))) },
    subject: {
      name: "2 personal fields sealed",
      run: (round) => time(append(Customer.CustomerEvents, stream("sealed", round)))
    }
  })
  const [plainStream, sealedStream] = [stream("plain-load", 0), stream("sealed-load", 0)]
  yield* append(PlainEvents, plainStream)
  yield* append(Customer.CustomerEvents, sealedStream)
  const loaded = yield* compare({
    workload: `load a ${events.toLocaleString("en-US")}-event customer stream`,
    count: events,
    baseline: { name: "no personal fields", run: () => time(plain.load(plainStream)) },
    subject: { name: "2 personal fields opened", run: () => time(personal.load(sealedStream)) }
  })
  return [appended, loaded]
}).pipe(Effect.provide(KeyStore.layerMemory()))
