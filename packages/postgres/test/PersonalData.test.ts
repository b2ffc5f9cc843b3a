// Crypto-shredding on both stores: personal fields are stored sealed; after `forget` no table
// holds the subject's personal values, the customer still loads (with "[erased]"), a projection
// rebuild completes, and other customers still decrypt. Key store failures are typed errors.
import {
  CommandHandler,
  Envelope,
  EventCodec,
  EventId,
  EventStore,
  ExpectedVersion,
  KeyStore,
  MemoryStore,
  PersonalData,
  Projection,
  Projector,
  Retention,
  SnapshotStore,
  StoreError,
  StreamLifecycle,
  StreamName
} from "@chronicle/core"
import { Customer } from "@chronicle/example"
import { PgKeyStore, PgStore } from "@chronicle/postgres"
import { PgHarness, StoreConformance } from "@chronicle/testing"
import { assert, layer } from "@effect/vitest"
import { Cause, Effect, Layer, Option, Schedule, Stream } from "effect"
import { Base64Url } from "effect/encoding"
import { SqlClient } from "effect/sql"

StoreConformance.keyStore("in-memory", KeyStore.layerMemory())
const PgDatabase = PgHarness.layer()
const PgStores = PgStore.layerStores().pipe(Layer.provideMerge(PgDatabase))
StoreConformance.keyStore("PostgreSQL", PgKeyStore.layer().pipe(Layer.provideMerge(PgStores)))
StoreConformance.keyStore(
  "PostgreSQL, uncached",
  Layer.effect(KeyStore.KeyStore, PgKeyStore.make()).pipe(Layer.provideMerge(PgStores))
)

/** A read model of customers: name and e-mail by customer id. */
interface Directory {
  readonly register: (customerId: string, name: string, email: string) => Effect.Effect<void>
  readonly changeEmail: (customerId: string, email: string) => Effect.Effect<void>
  readonly erase: (customerId: string) => Effect.Effect<void>
  readonly get: (customerId: string) => Effect.Effect<Option.Option<{ name: string; email: string }>>
}

const DirectoryEvents = EventCodec.make(
  Customer.CustomerRegistered,
  Customer.EmailChanged,
  PersonalData.SubjectForgotten
)

const directoryProjection = (version: number, directory: Directory) =>
  Projection.make({
    name: "customer-directory",
    version,
    codec: DirectoryEvents,
    handle: ({ event }) =>
      event._tag === "CustomerRegistered"
        ? directory.register(event.customerId, event.name, event.email)
        : event._tag === "EmailChanged"
          ? directory.changeEmail(event.customerId, event.email)
          : directory.erase(event.subject)
  })

/** What a store gives the scenario: its read models and the text of everything it holds, by table. */
interface Fixture<R> {
  readonly directory: (version: number) => Effect.Effect<Directory, never, R>
  readonly tables: Effect.Effect<ReadonlyMap<string, string>, never, R>
}

const memoryDirectory = (): Directory & { readonly text: () => string } => {
  const rows = new Map<string, { name: string; email: string }>()
  return {
    text: () => JSON.stringify(Array.from(rows)),
    register: (customerId, name, email) => Effect.sync(() => void rows.set(customerId, { name, email })),
    changeEmail: (customerId, email) =>
      Effect.sync(() => {
        const row = rows.get(customerId)
        if (row !== undefined) rows.set(customerId, { ...row, email })
      }),
    erase: (customerId) => Effect.sync(() => void rows.delete(customerId)),
    get: (customerId) => Effect.sync(() => Option.fromUndefinedOr(rows.get(customerId)))
  }
}

const memoryFixture = (): Fixture<EventStore.EventStore | SnapshotStore.SnapshotStore> => {
  const directories = new Map<number, ReturnType<typeof memoryDirectory>>()
  return {
    directory: (version) =>
      Effect.sync(() => {
        const directory = memoryDirectory()
        directories.set(version, directory)
        return directory
      }),
    // The memory store's tables: the log, the snapshot of every stream in it, the read models.
    tables: Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const snapshots = yield* SnapshotStore.SnapshotStore
      const envelopes = yield* Effect.orDie(Stream.runCollect(store.readAll()))
      const streams = new Set(envelopes.map((envelope) => envelope.stream))
      const stored = yield* Effect.orDie(Effect.forEach(streams, snapshots.load))
      return new Map([
        ["events", JSON.stringify(envelopes.map(Envelope.encode))],
        ["snapshots", JSON.stringify(stored)],
        ...Array.from(directories, ([version, d]): [string, string] => [`directory v${version}`, d.text()])
      ])
    })
  }
}

const pgFixture: Fixture<SqlClient.SqlClient> = {
  directory: (version) =>
    SqlClient.SqlClient.use((sql) => {
      const table = sql(`customer_directory_v${version}`)
      const directory: Directory = {
        register: (customerId, name, email) =>
          Effect.orDie(sql`INSERT INTO ${table} (customer_id, name, email) VALUES (${customerId}, ${name}, ${email})
            ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name, email = excluded.email`),
        changeEmail: (customerId, email) =>
          Effect.orDie(sql`UPDATE ${table} SET email = ${email} WHERE customer_id = ${customerId}`),
        erase: (customerId) => Effect.orDie(sql`DELETE FROM ${table} WHERE customer_id = ${customerId}`),
        get: (customerId) =>
          sql<{ name: string; email: string }>`SELECT name, email FROM ${table} WHERE customer_id = ${customerId}`.pipe(
            Effect.map((rows) => Option.fromUndefinedOr(rows[0])),
            Effect.orDie
          )
      }
      return Effect.as(
        sql`CREATE TABLE ${table} (customer_id text PRIMARY KEY, name text NOT NULL, email text NOT NULL)`,
        directory
      )
    }).pipe(Effect.orDie),
  // Every table of every schema the app uses (the store's and the read models'), as text.
  tables: SqlClient.SqlClient.use((sql) =>
    Effect.gen(function* () {
      const tables = yield* sql<{ schema: string; name: string }>`
        SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
        WHERE table_schema IN ('chronicle', 'public') AND table_type = 'BASE TABLE'`
      const texts = yield* Effect.forEach(tables, ({ name, schema }) =>
        Effect.map(
          sql<{ text: string | null }>`SELECT string_agg(t::text, E'\\n') AS text FROM ${sql(schema)}.${sql(name)} t`,
          (rows): [string, string] => [`${schema}.${name}`, rows[0]?.text ?? ""]
        )
      )
      return new Map(texts)
    })
  ).pipe(Effect.orDie)
}

const ada = { customerId: "customer-ada", name: "Ada Lovelace", email: "ada@example.com" }
const adaNewEmail = "ada@lovelace.org"
const bob = { customerId: "customer-bob", name: "Bob Babbage", email: "bob@example.com" }
const adaValues = [ada.name, ada.email, adaNewEmail]

const customers = CommandHandler.make({
  decider: Customer.decider,
  codec: Customer.CustomerEvents,
  snapshot: { schema: Customer.CustomerState, version: 1, every: 1 }
})

/** Without snapshots: every load decodes the events. */
const replaying = CommandHandler.make({ decider: Customer.decider, codec: Customer.CustomerEvents })

/** Waits for the background snapshot of `stream` at `version`. */
const snapshotAt = (stream: StreamName.StreamName, version: number) =>
  SnapshotStore.SnapshotStore.use((snapshots) => snapshots.load(stream)).pipe(
    Effect.repeat({
      until: (snapshot) => Option.isSome(snapshot) && snapshot.value.streamVersion === version,
      schedule: Schedule.spaced("10 millis")
    }),
    Effect.timeout("10 seconds"),
    Effect.orDie
  )

/** The tables holding any of `values`, by table. */
const holding = (tables: ReadonlyMap<string, string>, values: ReadonlyArray<string>) =>
  Array.from(tables)
    .filter(([, text]) => values.some((value) => text.includes(value)))
    .map(([table]) => table)

const scenario = <R>(fixture: Fixture<R>) =>
  Effect.gen(function* () {
    const handler = yield* customers
    const [adaStream, bobStream] = [StreamName.make("customer", "ada"), StreamName.make("customer", "bob")]
    yield* handler.handle(adaStream, { _tag: "RegisterCustomer", ...ada })
    yield* handler.handle(adaStream, { _tag: "ChangeEmail", email: adaNewEmail })
    yield* handler.handle(bobStream, { _tag: "RegisterCustomer", ...bob })
    yield* snapshotAt(adaStream, 1)
    yield* snapshotAt(bobStream, 0)
    const live = yield* fixture.directory(1)
    yield* Projector.catchUp(directoryProjection(1, live))

    // Before: the log holds only ciphertext; the snapshots and the read model hold plaintext.
    const before = yield* fixture.tables
    const events = Array.from(before).find(([table]) => table.endsWith("events"))![1]
    assert.include(events, "enc:v1:")
    assert.deepStrictEqual(holding(new Map([["events", events]]), [...adaValues, bob.name, bob.email]), [])
    assert.isAtLeast(holding(before, [ada.name]).length, 2, "the snapshot and the read model hold Ada's name")

    yield* PersonalData.forget(ada.customerId, { actor: "dpo@example.com" })
    yield* Projector.catchUp(directoryProjection(1, live))

    // After: no table holds Ada's personal values; Bob's are still there.
    const after = yield* fixture.tables
    assert.deepStrictEqual(holding(after, adaValues), [])
    assert.isAtLeast(holding(after, [bob.name]).length, 2, "Bob's snapshot and read model row remain")
    assert.isTrue(Option.isNone(yield* live.get(ada.customerId)))
    assert.deepStrictEqual(yield* live.get(bob.customerId), Option.some({ name: bob.name, email: bob.email }))

    // The aggregate still loads, with the replacement; the other customer still decrypts.
    const loaded = yield* handler.load(adaStream)
    assert.deepStrictEqual(loaded, {
      version: 1,
      state: { registered: true, customerId: ada.customerId, name: "[erased]", email: "[erased]" }
    })
    assert.deepStrictEqual((yield* handler.load(bobStream)).state, { registered: true, ...bob })

    // A rebuild from the start completes: Ada erased, Bob intact.
    const rebuilt = yield* fixture.directory(2)
    yield* Projector.rebuild(directoryProjection(2, rebuilt), { takeOver: Effect.void })
    assert.isTrue(Option.isNone(yield* rebuilt.get(ada.customerId)))
    assert.deepStrictEqual(yield* rebuilt.get(bob.customerId), Option.some({ name: bob.name, email: bob.email }))
    assert.deepStrictEqual(holding(yield* fixture.tables, adaValues), [])

    // The read models were told on the system stream, with who asked.
    const store = yield* EventStore.EventStore
    const told = yield* Effect.orDie(Stream.runCollect(store.readStream(PersonalData.subjectsStream)))
    assert.deepStrictEqual(
      told.map((envelope) => [envelope.type, envelope.data, envelope.metadata.actor]),
      [["SubjectForgotten", { subject: ada.customerId }, "dpo@example.com"]]
    )

    // Deciders keep working: the customer can take a new address, under a new key.
    yield* handler.handle(adaStream, { _tag: "ChangeEmail", email: "ada@new.example" })
    assert.strictEqual((yield* handler.load(adaStream)).state.email, "ada@new.example")
  })

/** Snapshots with the state's personal fields sealed, as a trimmed stream needs. */
const sealing = CommandHandler.make({
  decider: Customer.decider,
  codec: Customer.CustomerEvents,
  snapshot: {
    schema: Customer.CustomerState,
    version: 1,
    personal: { subject: (state) => (state.registered ? state.customerId : undefined), fields: ["name", "email"] }
  }
})

/**
 * A trimmed stream: its snapshot is all that is left of the early state, so it must not hold the
 * plaintext (forget could not erase it) nor be dropped by forget (the stream would no longer load).
 */
const trimmedScenario = <R>(fixture: Fixture<R>) =>
  Effect.gen(function* () {
    const carol = { customerId: "customer-carol", name: "Carol Shaw", email: "carol@example.com" }
    const carolNewEmail = "carol@shaw.org"
    const stream = StreamName.make("archivedcustomer", "carol")
    const handler = yield* sealing
    yield* handler.handle(stream, { _tag: "RegisterCustomer", ...carol })
    yield* handler.handle(stream, { _tag: "ChangeEmail", email: carolNewEmail })

    // Policies that would keep her data in plaintext cannot snapshot for a trim.
    for (const plaintext of [yield* customers, yield* replaying]) {
      const refused = yield* Effect.flip(plaintext.snapshot(stream))
      assert.strictEqual(refused._tag, "SnapshotUnavailable")
    }
    yield* Retention.apply({ category: "archivedcustomer", maxCount: 1 }, { handler, reason: "test", actor: "test" })
    const status = yield* StreamLifecycle.status(stream)
    assert.strictEqual(status.removedBefore, 1)
    const values = [carol.name, carol.email, carolNewEmail]
    assert.deepStrictEqual(holding(yield* fixture.tables, values), [], "the snapshot is sealed")
    assert.deepStrictEqual((yield* handler.load(stream)).state, { registered: true, ...carol, email: carolNewEmail })

    yield* PersonalData.forget(carol.customerId)
    assert.deepStrictEqual(yield* handler.load(stream), {
      version: 1,
      state: { registered: true, customerId: carol.customerId, name: "[erased]", email: "[erased]" }
    })
    assert.deepStrictEqual(holding(yield* fixture.tables, values), [])
    // It takes commands as before.
    yield* handler.handle(stream, { _tag: "ChangeEmail", email: "c@new.example" })
    assert.strictEqual((yield* handler.load(stream)).state.email, "c@new.example")
  })

layer(Layer.mergeAll(MemoryStore.layer(), KeyStore.layerMemory()), { timeout: "2 minutes", excludeTestServices: true })(
  "Crypto-shredding: in-memory",
  (it) => {
    it.effect("after forget no table holds the subject's personal values; loads and rebuilds work", () =>
      scenario(memoryFixture())
    )

    it.effect("a trimmed stream's snapshot is sealed, kept by forget, and reads as erased", () =>
      trimmedScenario(memoryFixture())
    )

    it.effect("a sealed value moved to another field or subject, or altered, does not decode", () =>
      Effect.gen(function* () {
        const handler = yield* customers
        const store = yield* EventStore.EventStore
        const stream = StreamName.make("customer", "moved")
        yield* handler.handle(stream, { _tag: "RegisterCustomer", customerId: "customer-moved", name: "N", email: "E" })
        // Another subject with a key of its own.
        yield* handler.handle(StreamName.make("customer", "other"), {
          _tag: "RegisterCustomer",
          customerId: "customer-other",
          name: "O",
          email: "O"
        })
        const [stored] = yield* Effect.orDie(Stream.runCollect(store.readStream(stream)))
        const data = stored!.data as { customerId: string; name: string; email: string }
        // A stored event as it was, except for `data`, decodes as N (the check can fail).
        const intact = StreamName.make("customer", "intact")
        yield* store.append(intact, [{ ...stored!, eventId: EventId.makeUnsafe() }], ExpectedVersion.noStream)
        assert.strictEqual((yield* handler.load(intact)).state.name, "N")
        const [, , , version, nonce, ciphertext] = data.name.split(":")
        const otherSubject = `enc:v1:${Base64Url.encode("customer-other")}:${version}:${nonce}:${ciphertext}`
        const altered = `${data.name.slice(0, -2)}${data.name.endsWith("AA") ? "AB" : "AA"}`
        for (const [i, [label, tampered]] of [
          ["name sealed as the e-mail", { ...data, name: data.email }],
          ["name re-labelled as another subject's", { ...data, name: otherSubject }],
          ["ciphertext altered", { ...data, name: altered }]
        ].entries()) {
          const target = StreamName.make("customer", `tampered${i}`)
          yield* store.append(
            target,
            [{ ...stored!, eventId: EventId.makeUnsafe(), data: tampered }],
            ExpectedVersion.noStream
          )
          const error = yield* Effect.flip(handler.load(target))
          assert.strictEqual(error._tag, "InvalidEventData", label as string)
          assert.include(error.message, '"name" is sealed', label as string)
        }
      })
    )
  }
)

layer(MemoryStore.layer(), { timeout: "2 minutes", excludeTestServices: true })(
  "Crypto-shredding: in-memory, without a key store",
  (it) => {
    it.effect("personal data is neither written nor read: a StoreError, never plaintext", () =>
      Effect.gen(function* () {
        const handler = yield* replaying
        const store = yield* EventStore.EventStore
        const [carol, dave] = [StreamName.make("customer", "carol"), StreamName.make("customer", "dave")]
        yield* Effect.provide(
          handler.handle(carol, { _tag: "RegisterCustomer", customerId: "carol", name: "Carol", email: "c@x" }),
          KeyStore.layerMemory()
        )
        const onEncode = yield* Effect.flip(
          handler.handle(dave, { _tag: "RegisterCustomer", customerId: "dave", name: "Dave", email: "d@x" })
        )
        assert.instanceOf(onEncode, StoreError.StoreError)
        assert.strictEqual((onEncode as StoreError.StoreError).operation, "KeyStore.keyFor")
        assert.strictEqual(yield* store.streamVersion(dave), -1)
        const onDecode = yield* Effect.flip(handler.load(carol))
        assert.instanceOf(onDecode, StoreError.StoreError)
        assert.strictEqual((onDecode as StoreError.StoreError).operation, "KeyStore.lookup")
      })
    )
  }
)

const PgShredding = PgKeyStore.layer().pipe(
  Layer.provideMerge(PgStore.layerStores()),
  Layer.provideMerge(PgHarness.layer())
)

layer(PgShredding, { timeout: "2 minutes", excludeTestServices: true })("Crypto-shredding: PostgreSQL", (it) => {
  it.effect("after forget no table holds the subject's personal values; loads and rebuilds work", () =>
    scenario(pgFixture)
  )

  it.effect("a trimmed stream's snapshot is sealed, kept by forget, and reads as erased", () =>
    trimmedScenario(pgFixture)
  )

  it.effect("a key store failure is a StoreError on encode and on decode, never plaintext", () =>
    Effect.gen(function* () {
      const handler = yield* replaying
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const [carol, dave] = [StreamName.make("customer", "carol"), StreamName.make("customer", "dave")]
      yield* handler.handle(carol, { _tag: "RegisterCustomer", customerId: "carol", name: "Carol", email: "c@x" })
      yield* sql`ALTER TABLE chronicle.subject_keys RENAME TO subject_keys_away`
      const restore = sql`ALTER TABLE chronicle.subject_keys_away RENAME TO subject_keys`.pipe(Effect.orDie)
      yield* Effect.gen(function* () {
        const onEncode = yield* Effect.flip(
          handler.handle(dave, { _tag: "RegisterCustomer", customerId: "dave", name: "Dave", email: "d@x" })
        )
        assert.instanceOf(onEncode, StoreError.StoreError, Cause.pretty(Cause.fail(onEncode)))
        assert.strictEqual((onEncode as StoreError.StoreError).operation, "KeyStore.keyFor")
        assert.strictEqual(yield* store.streamVersion(dave), -1)
        // A process that has not cached Carol's key cannot read her events.
        const onDecode = yield* Effect.flip(handler.load(carol)).pipe(Effect.provide(PgKeyStore.layer()))
        assert.instanceOf(onDecode, StoreError.StoreError)
        assert.strictEqual((onDecode as StoreError.StoreError).operation, "KeyStore.lookup")
      }).pipe(Effect.ensuring(restore))
    })
  )
})
