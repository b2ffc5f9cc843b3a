// The whole store conformance suite against core's in-memory stores, the same suite every
// PostgreSQL store passes (packages/postgres/test/Conformance.test.ts).
import { MemoryStore } from "@chronicle/core"
import { StoreConformance } from "@chronicle/testing"

StoreConformance.eventStore("in-memory", MemoryStore.layer())
StoreConformance.snapshotStore("in-memory", MemoryStore.layer())
StoreConformance.checkpointStore("in-memory", MemoryStore.layer())
