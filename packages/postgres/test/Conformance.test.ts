import { PgStore } from "@chronicle/postgres"
import { PgHarness, StoreConformance } from "@chronicle/testing"
import { Layer } from "effect"

const Stores = PgStore.layerStores().pipe(Layer.provide(PgHarness.layer()))

StoreConformance.all("PostgreSQL", Stores)
