import { Effect, Option, Result, Schema, Stream } from "effect"
import type * as Decider from "../Decider.ts"
import type { Envelope } from "../Envelope.ts"
import type * as EventCodec from "../EventCodec.ts"
import type { EventStore } from "../EventStore.ts"
import * as Observability from "../Observability.ts"
import { type SnapshotStore, SnapshotUnavailable } from "../SnapshotStore.ts"
import type { StoreError } from "../StoreError.ts"
import { HistoryTrimmed } from "../StreamLifecycle.ts"
import type * as StreamName from "../StreamName.ts"
import * as personalFields from "./personalFields.ts"

/** When and how to snapshot a stream's state (see `CommandHandler.SnapshotPolicy`). */
export interface SnapshotPolicy<State, Encoded> {
  /** Encodes the state; its `version` must change whenever the encoding does. */
  readonly schema: Schema.Codec<State, Encoded>
  /** The state schema's version; snapshots of any other version are ignored. */
  readonly version: number
  /** Snapshot once this many events were appended since the last snapshot. */
  readonly every?: number | undefined
  /** Or snapshot whenever this predicate holds after an append. */
  readonly when?: ((state: State, events: ReadonlyArray<unknown>) => boolean) | undefined
  /** The state's personal fields, sealed in stored snapshots (see `CommandHandler.SnapshotPersonal`). */
  readonly personal?: SnapshotPersonal<State> | undefined
}

/** Which fields of a snapshot's state are personal, and whose (see `CommandHandler.SnapshotPersonal`). */
export interface SnapshotPersonal<State> {
  readonly subject: (state: State) => string | undefined
  readonly fields: ReadonlyArray<string>
  readonly erased?: unknown
}

/** A stream's state and version as loaded (see `CommandHandler.Loaded`). */
export interface Loaded<State> {
  readonly state: State
  /** The version of the last event folded in; `-1` for a stream with no events. */
  readonly version: number
}

/**
 * Loading a stream's state (from a snapshot when a usable one exists, then
 * the events after it, decoded, upcast and folded) and saving snapshots
 * when the policy says so.
 */
export const make = <Command, Event extends { readonly _tag: string }, State, Error, Encoded>(options: {
  readonly decider: Decider.Decider<Command, Event, State, Error>
  readonly codec: EventCodec.EventCodec<Event>
  readonly snapshot: SnapshotPolicy<State, Encoded> | undefined
  readonly store: EventStore["Service"]
  readonly snapshots: Option.Option<SnapshotStore["Service"]>
}) => {
  const { codec, decider, snapshot, store } = options
  const snapshots = snapshot === undefined ? Option.none() : options.snapshots
  const decodeSnapshot = snapshot && Schema.decodeUnknownResult(snapshot.schema as Schema.Codec<State, unknown>)
  const encodeSnapshot = snapshot && Schema.encodeResult(snapshot.schema as Schema.Codec<State, unknown>)
  const empty: Loaded<State> = { state: decider.initialState, version: -1 }
  const personal = snapshot?.personal
  /**
   * Without `personal` on the policy, a snapshot of an aggregate whose events carry personal fields
   * would hold them in plaintext: `PersonalData.forget` then drops it, and a trimmed stream could
   * no longer load. So such snapshots are only an automatic cache, never one a trim relies on.
   */
  const plaintextPersonal =
    personal === undefined && [...codec.types.values()].some((eventType) => eventType.personal !== undefined)

  /** The encoded state with its personal fields sealed by its subject's key, when the policy names them. */
  const sealState = (state: State, encoded: unknown): Effect.Effect<unknown, StoreError> => {
    const subject = personal?.subject(state)
    return personal === undefined || subject === undefined || typeof encoded !== "object" || encoded === null
      ? Effect.succeed(encoded)
      : personalFields.seal({ subject: () => subject, fields: personal.fields }, state, encoded as {})
  }

  /** The state to save as a snapshot: encoded, its personal fields sealed. */
  const snapshotOf = (
    stream: StreamName.StreamName,
    state: State
  ): Effect.Effect<unknown, SnapshotUnavailable | StoreError> =>
    Result.match(encodeSnapshot!(state), {
      onFailure: (error) =>
        Effect.fail(new SnapshotUnavailable({ stream, reason: `the state does not encode: ${error.message}` })),
      onSuccess: (encoded) => sealState(state, encoded)
    })

  /** Folds the stream's events after `from` (while `until` does not hold), decoding and upcasting each. */
  const foldEvents = (stream: StreamName.StreamName, from: Loaded<State>, until?: (envelope: Envelope) => boolean) => {
    let loaded = from
    const envelopes = store.readStream(stream, { from: from.version + 1 })
    return (until === undefined ? envelopes : Stream.takeWhile(envelopes, (envelope) => !until(envelope))).pipe(
      Stream.runForEachArray((chunk) =>
        // Opening personal fields takes one effect per chunk; decoding and folding the whole chunk
        // synchronously keeps the hot loop free of effects.
        Effect.flatMap(codec.open(chunk), (opened): Effect.Effect<void, EventCodec.DecodeError | HistoryTrimmed> => {
          let state = loaded.state
          let next = loaded.version + 1
          for (const envelope of opened) {
            // A stream read from its start begins after its trimmed events, if any.
            if (envelope.streamVersion !== next++) {
              return Effect.fail(
                new HistoryTrimmed({ stream, removedBefore: envelope.streamVersion, needed: loaded.version + 1 })
              )
            }
            const event = codec.decode(
              { type: envelope.type, version: envelope.schemaVersion, data: envelope.data },
              envelope
            )
            if (Result.isFailure(event)) return Effect.fail(event.failure)
            state = decider.evolve(state, event.success)
          }
          loaded = { state, version: chunk[chunk.length - 1]!.streamVersion }
          return Effect.void
        })
      ),
      Effect.map(() => loaded)
    )
  }

  /** The latest usable snapshot; a missing, outdated or undecodable one means a full replay. */
  const loadSnapshot = (stream: StreamName.StreamName): Effect.Effect<Option.Option<Loaded<State>>> =>
    Option.match(snapshots, {
      onNone: () => Effect.succeedNone,
      onSome: (snapshotStore) =>
        snapshotStore.load(stream).pipe(
          Effect.flatMap((found) => {
            if (Option.isNone(found) || found.value.schemaVersion !== snapshot!.version) return Effect.succeedNone
            const stored = found.value
            return Effect.map(personalFields.openFields(stored.state, personal?.erased), (state) =>
              Option.map(Result.getSuccess(decodeSnapshot!(state)), (decoded) => ({
                state: decoded,
                version: stored.streamVersion
              }))
            )
          }),
          Effect.catch((error) =>
            Effect.as(Effect.logWarning("Ignoring snapshot: it could not be read", error), Option.none())
          )
        )
    })

  /** The stream's state, and the version of the snapshot it started from (`-1`: none). */
  const load = (stream: StreamName.StreamName) =>
    Effect.flatMap(loadSnapshot(stream), (fromSnapshot) =>
      Effect.map(
        foldEvents(
          stream,
          Option.getOrElse(fromSnapshot, () => empty)
        ),
        (loaded) => ({
          loaded,
          snapshotVersion: Option.match(fromSnapshot, { onNone: () => -1, onSome: (s) => s.version })
        })
      )
    ).pipe(
      Observability.withSpan("CommandHandler.load", {
        attributes: () => ({ stream }),
        outcome: ({ loaded, snapshotVersion }) => ({ version: loaded.version, snapshot_version: snapshotVersion })
      })
    )

  /** Saves a snapshot of the stream's current state now, and waits for it (retention needs it stored). */
  const saveSnapshot = (stream: StreamName.StreamName) =>
    Effect.gen(function* () {
      if (snapshot === undefined) {
        return yield* new SnapshotUnavailable({ stream, reason: "the command handler has no snapshot policy" })
      }
      if (Option.isNone(snapshots)) {
        return yield* new SnapshotUnavailable({ stream, reason: "no SnapshotStore is provided" })
      }
      if (plaintextPersonal) {
        return yield* new SnapshotUnavailable({
          stream,
          reason:
            "the aggregate's events carry personal fields and its snapshot policy names none, so the snapshot " +
            "would hold them in plaintext, which forgetting a subject must drop; name them in the policy's `personal`"
        })
      }
      const { loaded } = yield* load(stream)
      const state = yield* snapshotOf(stream, loaded.state)
      yield* snapshots.value.save({ stream, streamVersion: loaded.version, schemaVersion: snapshot.version, state })
      return loaded
    })

  /**
   * Saves a snapshot when the policy says one is due, in the background: a snapshot only
   * saves work, so a reply never waits for it and a failed save is only logged. Says whether
   * it started one.
   */
  const maybeSnapshot = (
    stream: StreamName.StreamName,
    snapshotVersion: number,
    outcome: Loaded<State> & { readonly events: ReadonlyArray<Event> }
  ) => {
    if (snapshot === undefined || Option.isNone(snapshots) || outcome.events.length === 0) return Effect.succeed(false)
    const due =
      (snapshot.every !== undefined && outcome.version - snapshotVersion >= snapshot.every) ||
      snapshot.when?.(outcome.state, outcome.events) === true
    if (!due) return Effect.succeed(false)
    const save = snapshotOf(stream, outcome.state).pipe(
      Effect.flatMap((state) =>
        snapshots.value.save({ stream, streamVersion: outcome.version, schemaVersion: snapshot.version, state })
      ),
      Effect.catch((error) => Effect.logWarning(`Snapshot of ${stream} failed`, error.message))
    )
    return Effect.as(Effect.forkDetach(save), true)
  }

  return { empty, foldEvents, load, maybeSnapshot, saveSnapshot }
}
