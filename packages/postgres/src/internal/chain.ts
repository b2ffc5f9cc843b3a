/**
 * The hash chain as the PostgreSQL statements build it (see `Integrity` in
 * @chronicle/core and migration 4 in `PgSchema`).
 */

/** The hash before a stream's first event, 32 zero bytes (`Integrity.genesis`), as SQL. */
export const genesis = "decode(repeat('00', 32), 'hex')"
