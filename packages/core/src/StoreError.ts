/**
 * The one error every store layer uses when storage itself fails.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Storage failed (connection lost, server down, timeout, unexpected SQL
 * error). `operation` names what was being done, e.g. `EventStore.append`.
 *
 * For an append, whether it was written is unknown: retry it with the same
 * event ids, which is safe because appends are idempotent by event id.
 *
 * Input never causes it: stores check appends (`AppendCheck`) and read options
 * (`ReadCheck`) before storage, so bad input is `InvalidAppend` or a defined
 * read.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  operation: Schema.String,
  cause: Schema.Defect()
}) {
  override get message() {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return (
      `${this.operation} failed: ${cause}. Check that the database is reachable; ` +
      `retrying an append with the same event ids is safe.`
    )
  }
}
