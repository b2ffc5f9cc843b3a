/**
 * The store conformance suites: each call registers, against a store layer,
 * the vitest tests that prove the guarantees every Chronicle store keeps (see
 * the store services and DESIGN.md). {@link all} registers every suite.
 *
 * {@link eventStore}:
 *
 * 1. an append is atomic — all of its events or none, across streams too;
 * 2. of writers with the same expected version exactly one wins, the others
 *    get `WrongExpectedVersion` with the actual version;
 * 3. what was appended reads back exactly (awkward JSON, odd stream names,
 *    envelopes with the right versions, positions and time);
 * 4. the global log, read in order, never skips or repeats an event, even
 *    while many writers commit;
 * 5. re-appending the same event ids is idempotent, never a duplicate;
 * 6. bad input gets a typed error (`InvalidAppend`, never `StoreError`) and
 *    writes nothing, and odd read options read the same on every store;
 * 7. subscriptions deliver every event once, in order, across the hand-over
 *    from catch-up to live.
 *
 * {@link unitOfWork}: the store's `UnitOfWork` commits all of its writes
 * (appends, checkpoint saves, parked events) or none: a failed, interrupted
 * or nested-and-failed unit leaves nothing behind, and other readers see a
 * unit's appends only once it commits.
 *
 * {@link integrity}: every stream is hash-chained, and an untouched store
 * verifies clean whatever wrote to it.
 *
 * {@link eventImport}: an import writes another store's export into new
 * streams exactly (ids, versions, recorded-at times, metadata, data) at new
 * positions after the log; the streams continue and verify clean; and bad
 * input is a typed error that writes nothing of its batch.
 *
 * {@link snapshotStore}, {@link checkpointStore}, {@link deadLetterStore} and
 * {@link lease} prove the other store services.
 *
 * The suites are safe against a database other tests write to at the same
 * time: every test writes to streams of its own random category (and names
 * its checkpoints, parked events and leases with a random prefix) and reads
 * the global log filtered by that category; it never assumes the log is
 * empty. Tests run with the live clock (the test services are excluded), so
 * `recordedAt` is real time.
 *
 * @example
 * ```ts
 * // my-store.test.ts
 * import { MemoryStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.all("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 */
import type {
  CheckpointStore,
  DeadLetterStore,
  EventImport,
  EventStore,
  Integrity,
  Lease,
  SnapshotStore,
  StreamLifecycle,
  UnitOfWork
} from "@chronicle/core"
import { layer } from "@effect/vitest"
import type { Layer } from "effect"
import { appendMany } from "./internal/conformance/appendMany.ts"
import { atomicity } from "./internal/conformance/atomicity.ts"
import { checkpointStore as checkpointStoreTests } from "./internal/conformance/checkpointStore.ts"
import { deadLetterStore as deadLetterStoreTests } from "./internal/conformance/deadLetterStore.ts"
import { eventImport as eventImportTests } from "./internal/conformance/eventImport.ts"
import { expectedVersions } from "./internal/conformance/expectedVersions.ts"
import type { It } from "./internal/conformance/fixture.ts"
import { globalLog } from "./internal/conformance/globalLog.ts"
import { idempotency } from "./internal/conformance/idempotency.ts"
import { integrity as integrityTests } from "./internal/conformance/integrity.ts"
import { invalidInput } from "./internal/conformance/invalidInput.ts"
import { keyStore as keyStoreTests } from "./internal/conformance/keyStore.ts"
import { lease as leaseTests } from "./internal/conformance/lease.ts"
import { lifecycle as lifecycleTests } from "./internal/conformance/lifecycle.ts"
import { readingBack } from "./internal/conformance/readingBack.ts"
import { snapshotStore as snapshotStoreTests } from "./internal/conformance/snapshotStore.ts"
import { subscriptions } from "./internal/conformance/subscriptions.ts"
import { unitOfWork as unitOfWorkTests } from "./internal/conformance/unitOfWork.ts"

/** A `describe` block whose tests share one instance of `storeLayer`, on the live clock. */
const suite = <R, E>(title: string, storeLayer: Layer.Layer<R, E, never>, tests: (it: It<R>) => void): void =>
  layer(storeLayer, { timeout: "2 minutes", excludeTestServices: true })(title, tests)

/**
 * Registers the `EventStore` conformance suite: a `describe` block named
 * `EventStore conformance: <name>` whose tests share one instance of
 * `storeLayer` (built once for the block, released after it). Units of work
 * have a suite of their own, {@link unitOfWork}.
 *
 * **When to use**
 *
 * Call it at the top level of a vitest file for every `EventStore` layer you
 * ship or write: a store that passes it keeps the guarantees the rest of
 * Chronicle (command handling, projections, subscriptions) relies on.
 *
 * **Details**
 *
 * Every test writes to streams of its own random category and filters the
 * global log by it, so the layer may point at a database that other tests
 * share. Global-log reads first wait (up to 10 s) until `head` has reached
 * the last acknowledged position. Each test has a 60 s vitest timeout;
 * subscriptions that do not deliver what is expected within 30 s fail the
 * test instead of hanging it.
 *
 * **Gotchas**
 *
 * Tests run with the live clock (test services excluded), because they check
 * that `recordedAt` is close to the real time and wait for real writers.
 *
 * **Example** (Running the suite on the in-memory store)
 *
 * ```ts
 * import { MemoryStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.eventStore("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const eventStore = <E>(name: string, storeLayer: Layer.Layer<EventStore.EventStore, E, never>): void =>
  suite(`EventStore conformance: ${name}`, storeLayer, (it) => {
    readingBack(it)
    expectedVersions(it)
    atomicity(it)
    appendMany(it)
    idempotency(it)
    invalidInput(it)
    globalLog(it)
    subscriptions(it)
  })

/**
 * Registers the `UnitOfWork` conformance suite: a `describe` block named
 * `UnitOfWork conformance: <name>` whose tests share one instance of
 * `storeLayer`.
 *
 * **Details**
 *
 * Proves that a failing unit of work leaves nothing appended (no stream
 * version, no event, no id, nothing delivered to subscribers), nor any
 * checkpoint saved or event parked inside it; that other readers see a
 * unit's appends only once it commits; that a failing nested unit rolls back
 * its own writes alone (a savepoint); and that an interrupted unit leaves
 * nothing behind and does not hold up the writers of its streams.
 *
 * **Example** (Running the suite on the in-memory store)
 *
 * ```ts
 * import { MemoryStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.unitOfWork("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const unitOfWork = <E>(
  name: string,
  storeLayer: Layer.Layer<
    EventStore.EventStore | UnitOfWork.UnitOfWork | CheckpointStore.CheckpointStore | DeadLetterStore.DeadLetterStore,
    E,
    never
  >
): void => suite(`UnitOfWork conformance: ${name}`, storeLayer, unitOfWorkTests)

/**
 * Registers the `KeyStore` conformance suite: a `describe` block named
 * `KeyStore conformance: <name>` whose tests share one instance of
 * `keyStoreLayer` (which provides the `KeyStore` reference; without it every
 * test fails with the default's `StoreError`).
 *
 * **Details**
 *
 * Proves that a subject's live key is the same on every call and found by
 * its version; that subjects have keys of their own and unknown subjects or
 * versions look up as `None`; that `forget` destroys every version for good,
 * a later key getting the next version; that forgetting one subject leaves
 * the others; and that concurrent first calls agree on one key. Subjects
 * carry a random prefix, so a shared database is fine.
 *
 * **Example** (Running the suite on the in-memory key store)
 *
 * ```ts
 * import { KeyStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.keyStore("in-memory", KeyStore.layerMemory())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const keyStore = <E>(name: string, keyStoreLayer: Layer.Layer<never, E, never>): void =>
  suite(`KeyStore conformance: ${name}`, keyStoreLayer, keyStoreTests)

/**
 * Registers the `Integrity` conformance suite: a `describe` block named
 * `Integrity conformance: <name>` whose tests share one instance of
 * `storeLayer`.
 *
 * **Details**
 *
 * Proves that `Integrity.verify` finds no break, stream by stream and in the
 * whole store, after appends with every kind of expected version, batches,
 * `appendMany`, idempotent repeats (in upper case too), awkward JSON and
 * non-ASCII names, and units of work rolled back (the chains go on from what
 * was kept); that it counts the streams and events it checked; and that it
 * reports its progress. The whole-store check expects every other test
 * writing to the database to leave it untouched too.
 *
 * **Example** (Running the suite on the in-memory store)
 *
 * ```ts
 * import { MemoryStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.integrity("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const integrity = <E>(
  name: string,
  storeLayer: Layer.Layer<EventStore.EventStore | UnitOfWork.UnitOfWork | Integrity.Integrity, E, never>
): void => suite(`Integrity conformance: ${name}`, storeLayer, integrityTests)

/**
 * Registers the `SnapshotStore` conformance suite: a `describe` block named
 * `SnapshotStore conformance: <name>` whose tests share one instance of
 * `storeLayer`.
 *
 * **Details**
 *
 * Proves that a missing snapshot loads as `None`; that the state, versions
 * and stream round-trip exactly; that a snapshot of an older stream version
 * never replaces a newer one (while a newer one does); and that `delete`
 * removes exactly one stream's snapshot. Every test uses streams of its own
 * random category, so a shared database is fine.
 *
 * **Example** (Running the suite on the in-memory store)
 *
 * ```ts
 * import { MemoryStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.snapshotStore("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const snapshotStore = <E>(name: string, storeLayer: Layer.Layer<SnapshotStore.SnapshotStore, E, never>): void =>
  suite(`SnapshotStore conformance: ${name}`, storeLayer, snapshotStoreTests)

/**
 * Registers the `CheckpointStore` conformance suite: a `describe` block named
 * `CheckpointStore conformance: <name>` whose tests share one instance of
 * `storeLayer`.
 *
 * **Details**
 *
 * Proves that a missing checkpoint loads as `None`; that positions round-trip
 * exactly (both `bigint` parts, up to 2^63 - 1); that a save overwrites, in
 * either direction; that `list` shows every saved name; that fenced saves
 * (`expected`) fail with `CheckpointConflict` and change nothing when the
 * stored checkpoint differs; and that `delete` removes one name. Names carry
 * a random prefix, so a shared database is fine.
 *
 * **Example** (Running the suite on the in-memory store)
 *
 * ```ts
 * import { MemoryStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.checkpointStore("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const checkpointStore = <E>(
  name: string,
  storeLayer: Layer.Layer<CheckpointStore.CheckpointStore, E, never>
): void => suite(`CheckpointStore conformance: ${name}`, storeLayer, checkpointStoreTests)

/**
 * Registers the `DeadLetterStore` conformance suite: a `describe` block named
 * `DeadLetterStore conformance: <name>` whose tests share one instance of
 * `storeLayer`.
 *
 * **Details**
 *
 * Proves that parked events are listed in log order, found by `get` and gone
 * after `remove`; that parking an event again replaces its entry; that event
 * ids match whatever their case; that each projection's parked events are its
 * own; that envelopes with awkward JSON read back exactly, with their
 * `bigint` positions and `recordedAt`; and that parking and removing inside a
 * failing unit of work roll back with it. Projection names carry a random
 * prefix, so a shared database is fine.
 *
 * **Example** (Running the suite on the in-memory store)
 *
 * ```ts
 * import { MemoryStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.deadLetterStore("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const deadLetterStore = <E>(
  name: string,
  storeLayer: Layer.Layer<DeadLetterStore.DeadLetterStore | UnitOfWork.UnitOfWork, E, never>
): void => suite(`DeadLetterStore conformance: ${name}`, storeLayer, deadLetterStoreTests)

/**
 * Registers the `Lease` conformance suite: a `describe` block named
 * `Lease conformance: <name>` whose tests share one instance of `storeLayer`.
 *
 * **Details**
 *
 * Proves that a lease has one holder at a time: a second `acquire` of the
 * same name waits until the first holder's scope closes, while other names
 * are independent; that interrupting a waiting `acquire` leaves the lease
 * free for others; and that the effect signalling a lost lease does not fail
 * while the lease is held. Every `acquire` contends as another process would
 * (the PostgreSQL leases open a session per `acquire`). Lease names carry a
 * random prefix, so a shared database is fine.
 *
 * **Gotchas**
 *
 * The tests wait on real time: a few seconds each, so that a store polling
 * for its lease (or checking its session) gets its chance to misbehave.
 *
 * **Example** (Running the suite on the in-memory store)
 *
 * ```ts
 * import { MemoryStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.lease("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const lease = <E>(name: string, storeLayer: Layer.Layer<Lease.Lease, E, never>): void =>
  suite(`Lease conformance: ${name}`, storeLayer, leaseTests)

/**
 * Registers the `StreamLifecycle` conformance suite: a `describe` block named
 * `StreamLifecycle conformance: <name>` whose tests share one instance of
 * `storeLayer`.
 *
 * **Details**
 *
 * Proves that a deleted stream refuses appends (whatever the expected
 * version) and reads with `StreamDeleted`, leaves the global log, leaves
 * other streams untouched and verifies clean, and that a stale expected
 * version deletes nothing; that a trim keeps the versions from the cut
 * (forward and backward reads, the global log), refuses a cut that would
 * keep no event, goes on at the stream's version and verifies clean, twice;
 * that an archived stream reads back exactly — in its stream and in the
 * global log — refuses appends with `StreamArchived` until restored; that an
 * action inside a failing unit of work is rolled back with its record; that
 * every action is recorded on `$system-streams` with its reason and actor;
 * and that `list` pages a category's streams in name order. Streams are of a
 * random category, so a shared database is fine.
 *
 * **Example** (Running the suite on the in-memory store)
 *
 * ```ts
 * import { MemoryStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.lifecycle("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const lifecycle = <E>(
  name: string,
  storeLayer: Layer.Layer<
    | EventStore.EventStore
    | UnitOfWork.UnitOfWork
    | Integrity.Integrity
    | SnapshotStore.SnapshotStore
    | StreamLifecycle.StreamLifecycle,
    E,
    never
  >
): void => suite(`StreamLifecycle conformance: ${name}`, storeLayer, lifecycleTests)

/**
 * Registers the `EventImport` conformance suite: a `describe` block named
 * `EventImport conformance: <name>` whose tests share one instance of
 * `storeLayer`.
 *
 * **Details**
 *
 * Proves that an export of another store (always an in-memory one, built in
 * the test) imports exactly — ids, versions, recorded-at times, metadata and
 * data, re-exporting to the same lines — at new positions after the target's
 * log, in the order given; that imported streams continue at their version
 * and verify clean; that a stream the store already has is refused with
 * `StreamExists` naming it, and gaps, versions out of order, ids recorded in
 * another stream and events failing the append checks (lone surrogates,
 * events over the default 1 MiB limit, bad ids, types, schema versions or
 * stream names) with `InvalidImport` naming the stream and version, each
 * writing nothing of its batch; that SQL-looking names, types and data are
 * stored verbatim; that a subscription started before the import receives
 * every imported event once, in order; that a rerun with `existing: "skip"`
 * finishes an import that stopped part-way; and that a batch the input's
 * failure (a malformed line) cuts short writes nothing while earlier batches
 * stay. Streams are of a random category, so a shared database is fine.
 *
 * **Gotchas**
 *
 * The oversized-event case assumes the store's default `maxEventBytes`
 * (1 MiB): a store built with a larger limit fails that test.
 *
 * **Example** (Running the suite on the in-memory store)
 *
 * ```ts
 * import { MemoryStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.eventImport("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const eventImport = <E>(
  name: string,
  storeLayer: Layer.Layer<EventStore.EventStore | EventImport.EventImport | Integrity.Integrity, E, never>
): void => suite(`EventImport conformance: ${name}`, storeLayer, eventImportTests)

/**
 * Registers every conformance suite against one layer of all the store
 * services (such as `MemoryStore.layer()` or `PgStore.layerStores()`); each
 * suite builds its own instance of the layer.
 *
 * **Example** (Running every suite on the in-memory store)
 *
 * ```ts
 * import { MemoryStore } from "@chronicle/core"
 * import { StoreConformance } from "@chronicle/testing"
 *
 * StoreConformance.all("in-memory", MemoryStore.layer())
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const all = <E>(
  name: string,
  storeLayer: Layer.Layer<
    | EventStore.EventStore
    | UnitOfWork.UnitOfWork
    | SnapshotStore.SnapshotStore
    | CheckpointStore.CheckpointStore
    | DeadLetterStore.DeadLetterStore
    | Lease.Lease
    | Integrity.Integrity
    | StreamLifecycle.StreamLifecycle
    | EventImport.EventImport,
    E,
    never
  >
): void => {
  eventStore(name, storeLayer)
  unitOfWork(name, storeLayer)
  integrity(name, storeLayer)
  snapshotStore(name, storeLayer)
  checkpointStore(name, storeLayer)
  deadLetterStore(name, storeLayer)
  lease(name, storeLayer)
  lifecycle(name, storeLayer)
  eventImport(name, storeLayer)
}
