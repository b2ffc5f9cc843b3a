/**
 * Measuring and printing benchmark figures.
 *
 * A workload and its baseline run in alternating rounds (AB, BA, AB, …: the
 * side that goes first alternates too, so neither always gets the warmer
 * machine), after warm-up rounds that are discarded. Each side reports its
 * median rate over the measured rounds with the spread (min–max); the
 * comparison is the ratio of the two medians, with the lowest and highest
 * ratio seen within one round as its spread.
 */
import { Console, Effect } from "effect"

/** One timed round of a side: how long it took, and each operation's latency when it counts them. */
export interface Sample {
  readonly seconds: number
  readonly latencies: ReadonlyArray<number>
}

/** One side of a comparison. `run(round)` does one round's work; a round number is never reused. */
export interface Side<E, R> {
  readonly name: string
  /** Units of work in one round, when not the comparison's `count`. */
  readonly count?: number | undefined
  readonly run: (round: number) => Effect.Effect<Sample, E, R>
}

/** A side's figures over the measured rounds. */
export interface Summary {
  readonly name: string
  readonly median: number
  readonly min: number
  readonly max: number
  /** Every operation's latency in the measured rounds, sorted (empty when not counted). */
  readonly latencies: ReadonlyArray<number>
}

/** A workload beside its baseline. */
export interface Comparison {
  readonly workload: string
  readonly unit: string
  readonly baseline: Summary
  readonly subject: Summary
  /** Further sides, shown for context without a ratio. */
  readonly context: ReadonlyArray<Summary>
  /** The subject's median rate over the baseline's. */
  readonly ratio: number
  readonly ratioMin: number
  readonly ratioMax: number
}

/** Times `effect` as one sample (no per-operation latencies). */
export const time = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<Sample, E, R> =>
  Effect.suspend(() => {
    const start = performance.now()
    return Effect.map(effect, () => ({ seconds: (performance.now() - start) / 1000, latencies: [] }))
  })

/** A round of `operation(i, round)` for i in [0, count) on `concurrency` fibers, timing each. */
export const operations =
  <E, R>(count: number, concurrency: number, operation: (i: number, round: number) => Effect.Effect<unknown, E, R>) =>
  (round: number): Effect.Effect<Sample, E, R> =>
    Effect.suspend(() => {
      const latencies: Array<number> = []
      const start = performance.now()
      return Effect.forEach(
        Array.from({ length: count }, (_, i) => i),
        (i) =>
          Effect.suspend(() => {
            const t = performance.now()
            return Effect.tap(operation(i, round), () => Effect.sync(() => void latencies.push(performance.now() - t)))
          }),
        { concurrency, discard: true }
      ).pipe(Effect.map(() => ({ seconds: (performance.now() - start) / 1000, latencies })))
    })

const median = (sorted: ReadonlyArray<number>) => {
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

const number = (n: number) =>
  n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toLocaleString("en-US", { maximumSignificantDigits: 3 })

const percent = (ratio: number) => `${(ratio * 100).toFixed(0)} %`

/**
 * Runs `baseline` and `subject` in alternating rounds: `warmups` discarded,
 * then `rounds` measured; then any `context` sides, as many rounds each. Each
 * round does `count` units of work per side (events, loads) unless the side
 * says otherwise. Prints a line per round.
 */
export const compare = <E, R>(options: {
  readonly workload: string
  readonly count: number
  readonly unit?: string | undefined
  readonly warmups?: number | undefined
  readonly rounds?: number | undefined
  readonly baseline: Side<E, R>
  readonly subject: Side<E, R>
  readonly context?: ReadonlyArray<Side<E, R>> | undefined
}): Effect.Effect<Comparison, E, R> =>
  Effect.gen(function* () {
    const unit = options.unit ?? "events"
    const warmups = options.warmups ?? 1
    const rounds = options.rounds ?? 9
    const warmup = (round: number) => round < warmups
    const label = (round: number) =>
      warmup(round) ? `warm-up ${round + 1}/${warmups} (discarded)` : `round ${round - warmups + 1}/${rounds}`
    /** One side's rate in each measured round, and the latencies of those rounds. */
    const measure = (side: Side<E, R>) => ({ side, rates: [] as Array<number>, latencies: [] as Array<number> })
    const record = (m: ReturnType<typeof measure>, round: number, sample: Sample) => {
      const rate = (m.side.count ?? options.count) / sample.seconds
      if (!warmup(round)) {
        m.rates.push(rate)
        m.latencies.push(...sample.latencies)
      }
      return rate
    }
    const baseline = measure(options.baseline)
    const subject = measure(options.subject)
    const ratios: Array<number> = []
    for (let round = 0; round < warmups + rounds; round++) {
      // Who goes first alternates: AB, BA, AB, …
      const [first, second] = round % 2 === 0 ? [baseline, subject] : [subject, baseline]
      const firstRate = record(first, round, yield* first.side.run(round))
      const secondRate = record(second, round, yield* second.side.run(round))
      const [b, s] = first === baseline ? [firstRate, secondRate] : [secondRate, firstRate]
      if (!warmup(round)) ratios.push(s / b)
      yield* Console.log(
        `  ${options.workload} · ${label(round)}: ${baseline.side.name} ${number(b)} · ${subject.side.name} ${number(s)} ${unit}/s (${percent(s / b)})`
      )
    }
    // Context sides run after the pair, so their work (and garbage) never lands inside it.
    const context = (options.context ?? []).map(measure)
    for (const m of context) {
      for (let round = 0; round < warmups + rounds; round++) {
        const rate = record(m, round, yield* m.side.run(round))
        yield* Console.log(`  ${options.workload} · ${m.side.name} · ${label(round)}: ${number(rate)} ${unit}/s`)
      }
    }
    const summarize = (m: ReturnType<typeof measure>): Summary => {
      const sorted = [...m.rates].sort((a, b) => a - b)
      return {
        name: m.side.name,
        median: median(sorted),
        min: sorted[0]!,
        max: sorted[sorted.length - 1]!,
        latencies: m.latencies.sort((a, b) => a - b)
      }
    }
    const [b, s] = [summarize(baseline), summarize(subject)]
    return {
      workload: options.workload,
      unit,
      baseline: b,
      subject: s,
      context: context.map(summarize),
      ratio: s.median / b.median,
      ratioMin: Math.min(...ratios),
      ratioMax: Math.max(...ratios)
    }
  })

const describeSide = (s: Summary, unit: string, width: number) => {
  const perOperation = (1000 * 1000) / s.median
  const latency =
    s.latencies.length === 0
      ? unit === "events"
        ? ""
        : `   ${number(perOperation)} µs per ${unit.replace(/s$/, "")}`
      : `   p50 / p99 ${percentile(s.latencies, 50).toFixed(2)} / ${percentile(s.latencies, 99).toFixed(2)} ms`
  return `    ${s.name.padEnd(width)}  ${`${number(s.median)} ${unit}/s`.padStart(20)}  (${number(s.min)} – ${number(s.max)})${latency}`
}

/**
 * What a ratio above 100 % means. A subject cannot beat a baseline that does the same work with
 * less in between, so either some rounds say otherwise (noise) or the baseline does more.
 */
const verdict = (c: Comparison) =>
  c.ratio <= 1
    ? ""
    : c.ratioMin < 1
      ? " — above 100 %, but not in every round: noise"
      : " — above 100 % in every round: the baseline does more work than the subject; fix the baseline"

/** Prints comparisons: per workload, each side's median (min–max) and the ratio of medians. */
export const report = (title: string, comparisons: ReadonlyArray<Comparison>) => {
  console.log(`\n${title}`)
  console.log(
    "  median of the measured rounds (min – max); ratio = median / baseline median (rounds' ratios min – max)"
  )
  for (const c of comparisons) {
    const sides = [c.baseline, c.subject, ...c.context]
    const width = Math.max(...sides.map((s) => s.name.length))
    console.log(`  ${c.workload}: ${percent(c.ratio)} (${percent(c.ratioMin)} – ${percent(c.ratioMax)})${verdict(c)}`)
    for (const s of sides) console.log(describeSide(s, c.unit, width))
  }
}
