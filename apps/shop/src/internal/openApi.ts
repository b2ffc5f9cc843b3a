import { Schema } from "effect"

/** A query parameter that is a whole number: its bounds and what it means. */
export interface IntegerParameter {
  readonly minimum: number
  readonly maximum: number
  readonly description: string
}

/**
 * An optional integer query parameter, decoded from its text: `1.5`, `abc`,
 * an empty value or one out of bounds is a 400.
 */
export const integer = ({ maximum, minimum }: IntegerParameter) =>
  Schema.optional(Schema.Int.check(Schema.isBetween({ minimum, maximum })))

/**
 * Documents the query parameters named in `parameters` as integers with their
 * bounds and description (their encoded form is text, which the generator
 * documents as a string).
 */
export const integerParameters =
  (parameters: { readonly [name: string]: IntegerParameter }) => (spec: Record<string, any>) => {
    for (const item of Object.values(spec.paths ?? {}) as Array<Record<string, any>>)
      for (const operation of Object.values(item))
        for (const parameter of operation?.parameters ?? [])
          if (parameter.in === "query" && Object.hasOwn(parameters, parameter.name)) {
            const { description, ...bounds } = parameters[parameter.name]!
            parameter.description = description
            parameter.schema = { type: "integer", ...bounds }
          }
    return spec
  }

/**
 * Names each component schema after its identifier, without the `Encoded`
 * suffix the generator adds when the identifier sits on the decoded side.
 */
export const plainComponentNames = (spec: Record<string, any>) => {
  const schemas: Record<string, unknown> = spec.components?.schemas ?? {}
  const renames = Object.keys(schemas).filter(
    (name) => name.endsWith("Encoded") && !Object.hasOwn(schemas, name.slice(0, -"Encoded".length))
  )
  if (renames.length === 0) return spec
  for (const name of renames) {
    schemas[name.slice(0, -"Encoded".length)] = schemas[name]
    delete schemas[name]
  }
  const pattern = new RegExp(`"#/components/schemas/(${renames.join("|")})"`, "g")
  return JSON.parse(
    JSON.stringify(spec).replace(pattern, (_, name: string) => `"#/components/schemas/${name.slice(0, -7)}"`)
  )
}
