// Dependencies point down: apps and scripts -> packages; postgres, testing, example, cli -> core;
// core -> effect only; no import cycle anywhere. `pnpm lint:deps` (part of `pnpm lint`, and run by
// .ci/run) checks the imports of packages/, apps/ and scripts/ against these rules. A cycle among
// the package.json files themselves (devDependencies included) fails `pnpm install`
// (`disallowWorkspaceCycles` in pnpm-workspace.yaml).
import { readdirSync } from "node:fs"
import { join } from "node:path"

/**
 * The workspace packages (folders under packages/), bottom layer first. A package's sources and
 * tests import only the package itself and packages in the layers below it.
 */
const layers = [["core", "embedded-postgres"], ["testing"], ["example"], ["postgres"], ["cli", "cluster"]]

/** What each package's sources may import of the packages below it (its tests may use all of them). */
const sources = {
  core: [],
  "embedded-postgres": [],
  testing: ["core", "embedded-postgres"],
  example: ["core"],
  postgres: ["core"],
  cli: ["core"],
  cluster: ["core"]
}

const all = layers.flat()

const unplaced = readdirSync(join(import.meta.dirname, "packages"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && !all.includes(entry.name))
  .map((entry) => entry.name)
if (unplaced.length > 0) {
  throw new Error(`.dependency-cruiser.mjs: put packages/${unplaced.join(", packages/")} in a layer`)
}

/** A path pattern for these package folders (none for no names). */
const folders = (names) => (names.length > 0 ? [`^packages/(${names.join("|")})/`] : [])

const layerRules = layers.flatMap((layer, index) => {
  const below = layers.slice(0, index).flat()
  return layer.map((name) => ({
    name: `layers-${name}`,
    comment: `packages/${name} imports only itself and the packages below it (${below.join(", ") || "none"}), never apps/ or scripts/`,
    severity: "error",
    from: { path: `^packages/${name}/` },
    to: { path: [...folders(all.filter((other) => other !== name && !below.includes(other))), "^(apps|scripts)/"] }
  }))
})

const sourceRules = all.flatMap((name) => {
  const forbidden = folders(all.filter((other) => other !== name && !sources[name].includes(other)))
  return forbidden.map((path) => ({
    name: `sources-${name}`,
    comment: `packages/${name}/src uses ${sources[name].join(", ") || "no other workspace package"} (its tests may use more)`,
    severity: "error",
    from: { path: `^packages/${name}/src/` },
    to: { path }
  }))
})

/** @type {import("dependency-cruiser").IConfiguration} */
export default {
  forbidden: [
    {
      name: "no-circular",
      comment: "A module must not reach itself through its imports (type-only imports count too).",
      severity: "error",
      from: {},
      to: { circular: true }
    },
    {
      name: "core-only-effect",
      comment: "packages/core/src imports only its own modules and effect: no other package, no Node.js builtin.",
      severity: "error",
      from: { path: "^packages/core/src/" },
      to: { pathNot: ["^packages/core/src/", "(^|/)node_modules/effect/"] }
    },
    ...layerRules,
    ...sourceRules,
    {
      name: "scripts-not-apps",
      comment: "scripts/ use the packages, never an app.",
      severity: "error",
      from: { path: "^scripts/" },
      to: { path: "^apps/" }
    },
    {
      name: "not-to-unresolvable",
      comment:
        "Every import resolves to a file or an installed package (pnpm links only the workspace packages a package.json declares).",
      severity: "error",
      from: {},
      to: { couldNotResolve: true }
    },
    {
      name: "not-to-dev-dep",
      comment:
        "A package's sources import only its dependencies and peerDependencies (a peer is a devDependency too, for the workspace), never a devDependency alone.",
      severity: "error",
      from: { path: "^(packages|apps)/[^/]+/src/" },
      to: { dependencyTypes: ["npm-dev"], dependencyTypesNot: ["npm-peer"] }
    },
    {
      name: "no-non-package-json",
      comment:
        "Every package a package's sources import is in its own package.json (tests and configs may use the root's tools).",
      severity: "error",
      from: { path: "^(packages|apps)/[^/]+/src/" },
      to: { dependencyTypes: ["npm-no-pkg", "npm-unknown"] }
    }
  ],
  options: {
    doNotFollow: { path: "(^|/)node_modules/" },
    exclude: { path: "^(packages|apps)/[^/]+/(dist|\\.data)/" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"]
    }
  }
}
