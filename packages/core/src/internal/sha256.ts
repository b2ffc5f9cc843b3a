import { Effect } from "effect"
import { Digest } from "effect/crypto"

/** SHA-256 on the `WebCrypto` reference (`crypto.subtle`): asynchronous, about 0.1 ms a call on Node. */
export const webCrypto = (bytes: Uint8Array): Effect.Effect<Uint8Array> =>
  Digest.Digest.use((digest) => digest.digest(Digest.sha256, bytes)).pipe(Effect.provide(Digest.layerWebCrypto))

// Node, Bun and Deno lend `node:crypto` without a static import, which would tie core to them.
const nodeCrypto = (globalThis as { process?: Partial<NodeJS.Process> }).process?.getBuiltinModule?.("node:crypto")

/** SHA-256 on `node:crypto`, synchronous (a few µs a call), where the runtime has it. */
export const native: ((bytes: Uint8Array) => Effect.Effect<Uint8Array>) | undefined =
  nodeCrypto === undefined
    ? undefined
    : (bytes) => Effect.sync(() => new Uint8Array(nodeCrypto.createHash("sha256").update(bytes).digest()))

/** SHA-256: natively where the runtime has `node:crypto`, else on WebCrypto; the same bytes either way. */
export const sha256: (bytes: Uint8Array) => Effect.Effect<Uint8Array> = native ?? webCrypto
