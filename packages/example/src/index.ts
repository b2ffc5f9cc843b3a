/**
 * @since 0.1.0
 */
export * as Order from "./Order.ts"
