import { Console } from "effect"
import { CliConfig, CliOutput, Flag, GlobalFlag } from "effect/cli"
import { oneLine } from "./format.ts"

/** `--version` without the `-v` alias, which reads like a short flag of a command (`state … -v 0`). */
const versionFlag = GlobalFlag.Action({
  flag: Flag.Boolean("version").pipe(Flag.withDescription("Show version information"), Flag.withDefault(false)),
  run: GlobalFlag.Version.run
})

/** The built-in flags, with {@link versionFlag} for the usual `--version`. */
export const cliConfig = CliConfig.make({
  builtIns: GlobalFlag.BuiltIns.map((flag) => (flag === GlobalFlag.Version ? versionFlag : flag))
})

/** Help and the version as usual; a usage error as one line on stderr with a hint to the command's `--help`. */
export const presenter: CliOutput.Presenter = {
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Console.error(
          `${event.errors.map((error) => oneLine(error.message)).join("; ")} ` +
            `(see: ${event.commandPath.join(" ")} --help)`
        )
      : CliOutput.defaultPresenter.present(event)
}

/** An error's message, or the error as text when it has none. */
export const describeError = (error: unknown): string => {
  const message = (error as { readonly message?: unknown } | null)?.message
  return typeof message === "string" && message.length > 0 ? message : String(error)
}
