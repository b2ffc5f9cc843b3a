// Every store conformance suite against core's in-memory stores, the same suites every
// PostgreSQL store passes (packages/postgres/test/Conformance.test.ts).
import { MemoryStore } from "@chronicle/core"
import { StoreConformance } from "@chronicle/testing"

StoreConformance.all("in-memory", MemoryStore.layer())
