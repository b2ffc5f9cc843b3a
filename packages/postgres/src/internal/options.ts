/**
 * What every PostgreSQL store module takes.
 */
import * as PgSchema from "../PgSchema.ts"

/** The options every PostgreSQL store module takes. */
export interface Options {
  /** The PostgreSQL schema of the tables (default `chronicle`). */
  readonly schema?: string | undefined
}

/** The schema of the tables. */
export const schemaOf = (options: Options | undefined): string => options?.schema ?? PgSchema.defaultSchema
