import { Metric } from "effect"

/** The metrics of a projection version, by checkpoint name (see `Projector.metrics`). */
export const make = (name: string) => {
  const attributes = { projection: name }
  return {
    checkpoint: Metric.gauge("chronicle_projection_checkpoint", {
      description: "Sequence of the projection's checkpoint",
      attributes
    }),
    head: Metric.gauge("chronicle_projection_head", { description: "Sequence of the log's head", attributes }),
    lagEvents: Metric.gauge("chronicle_projection_lag_events", {
      description: "Events behind the head (estimate)",
      attributes
    }),
    lagSeconds: Metric.gauge("chronicle_projection_lag_seconds", {
      description: "Age of the last handled event while behind",
      attributes
    }),
    handled: Metric.counter("chronicle_projection_events", {
      description: "Events handled",
      attributes,
      incremental: true
    }),
    failures: Metric.counter("chronicle_projection_failures", {
      description: "Failed handler attempts",
      attributes,
      incremental: true
    }),
    parked: Metric.counter("chronicle_projection_parked", {
      description: "Events parked",
      attributes,
      incremental: true
    })
  }
}
