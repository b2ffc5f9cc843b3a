/**
 * What the projectors of `Projector.layer` are doing, by checkpoint name: a
 * readiness check or a status page reads it. `Projector.layer` reports to
 * this service when it is in context (provide {@link layer}) and runs the
 * same without it.
 *
 * @example
 * ```ts
 * import { Projector, ProjectorStatus } from "@chronicle/core"
 * import { Effect, Layer } from "effect"
 *
 * const App = Projector.layer([balances]).pipe(Layer.provideMerge(ProjectorStatus.layer))
 * const halted = Effect.map(ProjectorStatus.current, (statuses) =>
 *   [...statuses].filter(([, status]) => status.state === "halted")
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option } from "effect"

/**
 * A projection's state: `running` (following the log, or waiting for its
 * lease), `restarting` (after a store failure, a lost lease or a fenced
 * checkpoint; it starts again from its checkpoint) or `halted` (stopped on an
 * event it could not handle, until the app restarts). `lastError` is the
 * latest failure, kept once the projection runs again.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProjectionStatus {
  readonly state: "running" | "restarting" | "halted"
  readonly lastError?: string | undefined
}

/**
 * The projectors' statuses, by checkpoint name.
 *
 * @since 0.1.0
 * @category services
 */
export class ProjectorStatus extends Context.Service<
  ProjectorStatus,
  {
    /** Records a projection's status. */
    readonly report: (projection: string, status: ProjectionStatus) => Effect.Effect<void>
    /** Every reported projection's latest status. */
    readonly current: Effect.Effect<ReadonlyMap<string, ProjectionStatus>>
  }
>()("@chronicle/core/ProjectorStatus") {}

/**
 * Statuses kept in memory for the life of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ProjectorStatus> = Layer.sync(ProjectorStatus, () => {
  const statuses = new Map<string, ProjectionStatus>()
  return ProjectorStatus.of({
    report: (projection, status) => Effect.sync(() => void statuses.set(projection, status)),
    current: Effect.sync(() => new Map(statuses))
  })
})

/**
 * Every reported projection's latest status.
 *
 * @since 0.1.0
 * @category getters
 */
export const current: Effect.Effect<
  ReadonlyMap<string, ProjectionStatus>,
  never,
  ProjectorStatus
> = ProjectorStatus.use((service) => service.current)

/**
 * Records a projection's status when a {@link ProjectorStatus} is in context;
 * does nothing otherwise.
 *
 * @since 0.1.0
 * @category reporting
 */
export const report = (projection: string, status: ProjectionStatus): Effect.Effect<void> =>
  Effect.flatMap(
    Effect.serviceOption(ProjectorStatus),
    Option.match({ onNone: () => Effect.void, onSome: (service) => service.report(projection, status) })
  )
