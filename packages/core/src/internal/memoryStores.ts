import { DateTime, Effect, Option, Semaphore } from "effect"
import { CheckpointConflict, type CheckpointStore, formatOption } from "../CheckpointStore.ts"
import type { DeadLetterStore, DiscardedEvent, ParkedEvent } from "../DeadLetterStore.ts"
import type { Holder, Lease } from "../Lease.ts"
import * as Position from "../Position.ts"
import type { Snapshot, SnapshotStore } from "../SnapshotStore.ts"

/** Registers how to undo a write, should the current unit of work roll back. */
export type Undoable = (undo: () => void) => Effect.Effect<void>

/** Snapshots in memory (a cache: saved outside units of work). */
export const snapshotStore = (): SnapshotStore["Service"] => {
  const snapshots = new Map<string, Snapshot>()
  return {
    save: (snapshot) =>
      Effect.map(DateTime.now, (recordedAt) => {
        const current = snapshots.get(snapshot.stream)
        if (current === undefined || current.streamVersion <= snapshot.streamVersion) {
          snapshots.set(snapshot.stream, { ...snapshot, state: structuredClone(snapshot.state), recordedAt })
        }
      }),
    load: (stream) => Effect.sync(() => Option.fromUndefinedOr(snapshots.get(stream))),
    delete: (stream) => Effect.sync(() => void snapshots.delete(stream))
  }
}

/** Sets or deletes `key` in `map`, undone with the current unit of work. */
const write = <K, V>(map: Map<K, V>, key: K, value: V | undefined, undoable: Undoable) =>
  Effect.suspend(() => {
    const before = map.get(key)
    const had = map.has(key)
    if (value === undefined) map.delete(key)
    else map.set(key, value)
    return undoable(() => {
      if (had) map.set(key, before as V)
      else map.delete(key)
    })
  })

/** Checkpoints in memory; saves inside a unit of work roll back with it. */
export const checkpointStore = (undoable: Undoable): CheckpointStore["Service"] => {
  const checkpoints = new Map<string, Position.Position>()
  const same = Option.makeEquivalence(Position.equals)
  return {
    load: (name) => Effect.sync(() => Option.fromUndefinedOr(checkpoints.get(name))),
    save: (name, position, expected) =>
      Effect.suspend(() => {
        const actual = Option.fromUndefinedOr(checkpoints.get(name))
        if (expected !== undefined && !same(actual, expected)) {
          return Effect.fail(
            new CheckpointConflict({ name, expected: formatOption(expected), actual: formatOption(actual) })
          )
        }
        return write(checkpoints, name, position, undoable)
      }),
    list: Effect.sync(() => new Map(checkpoints)),
    delete: (name) => write(checkpoints, name, undefined, undoable)
  }
}

/** Parked events in memory; parking inside a unit of work rolls back with it. */
export const deadLetterStore = (undoable: Undoable): DeadLetterStore["Service"] => {
  const parked = new Map<string, ParkedEvent>()
  const discarded: Array<DiscardedEvent> = []
  const key = (projection: string, eventId: string) => `${projection}\u0000${eventId.toLowerCase()}`
  return {
    park: (entry) =>
      Effect.flatMap(DateTime.now, (parkedAt) =>
        write(parked, key(entry.projection, entry.envelope.eventId), { ...entry, parkedAt }, undoable)
      ),
    list: (projection) =>
      Effect.sync(() =>
        [...parked.values()]
          .filter((p) => projection === undefined || p.projection === projection)
          .sort((a, b) => Position.Order(a.envelope.position, b.envelope.position))
      ),
    get: (projection, eventId) => Effect.sync(() => Option.fromUndefinedOr(parked.get(key(projection, eventId)))),
    remove: (projection, eventId) => write(parked, key(projection, eventId), undefined, undoable),
    discard: (projection, eventId, { by, reason }) =>
      Effect.suspend(() => {
        const entry = parked.get(key(projection, eventId))
        if (entry === undefined) return Effect.succeedNone
        return Effect.gen(function* () {
          const record: DiscardedEvent = { ...entry, reason, discardedBy: by, discardedAt: yield* DateTime.now }
          yield* write(parked, key(projection, eventId), undefined, undoable)
          discarded.push(record)
          yield* undoable(() => void discarded.splice(discarded.lastIndexOf(record), 1))
          return Option.some(record)
        })
      }),
    discarded: (projection) =>
      Effect.sync(() => discarded.filter((d) => projection === undefined || d.projection === projection))
  }
}

/** Leases in one process: one holder per projection at a time, the others wait; the holder is its fiber. */
export const lease = (): Lease["Service"] => {
  const held = new Map<string, Semaphore.Semaphore>()
  const holders = new Map<string, Holder>()
  return {
    holder: (name) => Effect.sync(() => Option.fromUndefinedOr(holders.get(name))),
    acquire: (name) =>
      Effect.suspend(() => {
        let semaphore = held.get(name)
        if (semaphore === undefined) {
          semaphore = Semaphore.makeUnsafe(1)
          held.set(name, semaphore)
        }
        const taken = semaphore
        // In one process a lease is never lost: it is held until the projector's scope closes. The wait for
        // it stays interruptible (unlike an `acquireRelease` acquisition), so a waiting projector can stop.
        return Effect.gen(function* () {
          yield* taken.takeScoped(1)
          const holder: Holder = { label: `fiber #${yield* Effect.fiberId} in this process` }
          holders.set(name, holder)
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => {
              if (holders.get(name) === holder) holders.delete(name)
            })
          )
          return Effect.never
        })
      })
  }
}
