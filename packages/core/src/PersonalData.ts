/**
 * Personal data and crypto-shredding. An event type declares which of its
 * fields are personal and whose (`EventType.make(..., { personal })`); the
 * codec stores each such field encrypted with its subject's key from the
 * `KeyStore`. {@link forget} destroys the subject's key: from then on those
 * fields decode to the declared replacement everywhere — in deciders,
 * projections and rebuilds — and the ciphertext left in the log can never be
 * read again, while the log itself (and any hash chain over it) stays as it
 * was.
 *
 * Read models hold plaintext of their own: {@link forget} tells them with a
 * {@link SubjectForgotten} event on the {@link subjectsStream}, which a
 * projection handles by erasing what it keeps about the subject.
 *
 * @example
 * ```ts
 * import { EventCodec, EventType, PersonalData, Projection } from "@chronicle/core"
 * import { Schema } from "effect"
 *
 * const CustomerRegistered = EventType.make(
 *   "CustomerRegistered",
 *   { customerId: Schema.String, email: Schema.String },
 *   { personal: { subject: (e) => e.customerId, fields: ["email"], erased: "[erased]" } }
 * )
 *
 * // A read model of e-mails also listens for forgotten subjects.
 * const Emails = EventCodec.make(CustomerRegistered, PersonalData.SubjectForgotten)
 *
 * // GDPR erasure of one customer:
 * const erase = PersonalData.forget("customer-42", { actor: "dpo@example.com" })
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Option, Schema, Stream } from "effect"
import type { Metadata } from "./Envelope.ts"
import * as EventCodec from "./EventCodec.ts"
import { EventStore } from "./EventStore.ts"
import * as EventType from "./EventType.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import * as personalFields from "./internal/personalFields.ts"
import { KeyStore } from "./KeyStore.ts"
import { SnapshotStore } from "./SnapshotStore.ts"
import * as StreamName from "./StreamName.ts"

/**
 * A subject was forgotten: its key is destroyed, and read models should
 * erase what they keep about it.
 *
 * @since 0.1.0
 * @category events
 */
export const SubjectForgotten = EventType.make("SubjectForgotten", { subject: Schema.String })

/**
 * The codec of the events {@link forget} records.
 *
 * @since 0.1.0
 * @category codecs
 */
export const SystemEvents = EventCodec.make(SubjectForgotten)

/**
 * The stream {@link forget} records {@link SubjectForgotten} events on,
 * `$system-subjects` (category `$system`: a projection that filters by
 * category must name it to hear of forgotten subjects).
 *
 * @since 0.1.0
 * @category constants
 */
export const subjectsStream: StreamName.StreamName = StreamName.make("$system", "subjects")

/**
 * The streams holding personal fields of `subject`: a scan of the whole
 * global log that opens nothing (each sealed field names its subject).
 *
 * @since 0.1.0
 * @category queries
 */
export const streamsOf = Effect.fn("PersonalData.streamsOf")(function* (subject: string) {
  const store = yield* EventStore
  return yield* Stream.runFold(
    store.readAll(),
    () => new Set<StreamName.StreamName>(),
    (streams, envelope) => (personalFields.mentions(envelope.data, subject) ? streams.add(envelope.stream) : streams)
  )
})

/**
 * Forgets a subject: destroys every version of its key, so all of its
 * personal fields decode to their declared replacement from now on; drops
 * the snapshots of the streams holding them (a snapshot is only a cache, and
 * a snapshot's state may hold the plaintext: the next load replays the
 * events, and a later snapshot holds the replacement), but keeps those whose
 * state is sealed for the subject (`CommandHandler.SnapshotPersonal`), which
 * read as erased too and may be all a trimmed stream has; then records
 * {@link SubjectForgotten} on {@link subjectsStream} with the given metadata
 * (say, who asked) for read models.
 *
 * Safe to run again: the key stays destroyed, and read models hear of the
 * subject once more. Finding the streams reads the whole log once.
 *
 * **Gotchas**
 *
 * A process that cached the key still decrypts with it for up to the
 * cache's time to live (see `KeyStore.cached`). PostgreSQL keeps a deleted
 * key's bytes in dead row versions until `VACUUM` reclaims them.
 *
 * @since 0.1.0
 * @category erasure
 */
export const forget = Effect.fn("PersonalData.forget")(function* (subject: string, metadata?: Metadata) {
  yield* (yield* KeyStore).forget(subject)
  const snapshots = yield* Effect.serviceOption(SnapshotStore)
  if (Option.isSome(snapshots)) {
    const streams = yield* streamsOf(subject)
    yield* Effect.forEach(
      streams,
      (stream) =>
        Effect.flatMap(snapshots.value.load(stream), (stored) =>
          // A snapshot sealed for the subject (see `CommandHandler.SnapshotPersonal`) reads as erased now.
          Option.isSome(stored) && personalFields.mentions(stored.value.state, subject)
            ? Effect.void
            : snapshots.value.delete(stream)
        ),
      { discard: true }
    )
  }
  const data = yield* Effect.orDie(SystemEvents.toEventData([SubjectForgotten.make({ subject })], metadata))
  yield* (yield* EventStore).append(subjectsStream, data, ExpectedVersion.any)
})
