/**
 * Measuring and printing benchmark figures: events per second, the median
 * run, and the ratio to a baseline measured in the same run.
 */
import { Effect } from "effect"

export interface Figure {
  readonly name: string
  readonly eventsPerSecond: number
  readonly medianMillis: number
  readonly ratio?: number | undefined
}

/** Runs `run` `repeats` times (after one warm-up) and keeps the median. */
export const measure = <A, E, R>(
  name: string,
  events: number,
  repeats: number,
  run: () => Effect.Effect<A, E, R>,
  baseline?: Figure
): Effect.Effect<Figure, E, R> =>
  Effect.gen(function* () {
    yield* run()
    const times: Array<number> = []
    for (let i = 0; i < repeats; i++) {
      const start = performance.now()
      yield* run()
      times.push(performance.now() - start)
    }
    times.sort((a, b) => a - b)
    const medianMillis = times[Math.floor(times.length / 2)]!
    const eventsPerSecond = events / (medianMillis / 1000)
    const figure: Figure = {
      name,
      eventsPerSecond,
      medianMillis,
      ratio: baseline && eventsPerSecond / baseline.eventsPerSecond
    }
    yield* Effect.log(`  ${name}: ${format(figure)}`)
    return figure
  })

const format = (f: Figure) =>
  `${Math.round(f.eventsPerSecond).toLocaleString("en-US")} events/s, median ${f.medianMillis.toFixed(2)} ms` +
  (f.ratio === undefined ? "" : `, ${(f.ratio * 100).toFixed(1)} % of baseline`)

/** Prints a table of figures. */
export const report = (title: string, figures: ReadonlyArray<Figure>) => {
  const width = Math.max(...figures.map((f) => f.name.length))
  console.log(`\n${title}`)
  for (const f of figures) console.log(`  ${f.name.padEnd(width)}  ${format(f)}`)
}
